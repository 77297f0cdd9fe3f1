"""Every attnlab model, registered with the transformers Auto classes. `import attnlab` imports
this module as soon as transformers' AutoModel classes are imported (attnlab.autoregister), so

    import attnlab
    from transformers import AutoModel, AutoModelForCausalLM
    model = AutoModel.from_pretrained("results/ocr/runs/n20m5/factorized-d16-adam/seed0")
    lm = AutoModelForCausalLM.from_pretrained("results/moh/runs/markov/moh75/seed0")
    icl = AutoModel.from_pretrained("results/icl_regression/runs/d5/softmax-h2/seed0")
    s2s = AutoModelForSeq2SeqLM.from_pretrained("results/cab/runs/cc/vanilla/seed0")   # encoder–decoder

Registration happens here and nowhere else: the model modules are also copied into every run
directory (attnlab.remote_code), where they must not register themselves. Without attnlab, a run
directory loads with `trust_remote_code=True` from the code saved beside its weights.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
)

from attnlab.icl_regression.model import ICLAttention, ICLConfig
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.ocr.model import OCRConfig, OCRTransformer
from attnlab.seq2seq.configuration import AttnSeq2SeqConfig
from attnlab.seq2seq.modeling import AttnEncoderForMaskedLM, AttnSeq2SeqForConditionalGeneration
from attnlab.vlm.configuration import AttnViTConfig, AttnVLMConfig
from attnlab.vlm.modeling import AttnViTModel, AttnVLMForConditionalGeneration

AUTO_CLASSES = {"AutoModel": AutoModel, "AutoModelForCausalLM": AutoModelForCausalLM,
                "AutoModelForSeq2SeqLM": AutoModelForSeq2SeqLM, "AutoModelForMaskedLM": AutoModelForMaskedLM,
                "AutoModelForImageTextToText": AutoModelForImageTextToText}
MODELS = [(AttnLMConfig, AttnLMForCausalLM), (OCRConfig, OCRTransformer), (ICLConfig, ICLAttention),
          (AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration), (AttnSeq2SeqConfig, AttnEncoderForMaskedLM),
          (AttnViTConfig, AttnViTModel), (AttnVLMConfig, AttnVLMForConditionalGeneration)]

for config_class, model_class in MODELS:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AUTO_CLASSES[model_class.auto_class].register(config_class, model_class, exist_ok=True)
AutoModel.register(AttnVLMConfig, AttnVLMForConditionalGeneration, exist_ok=True)  # as LLaVA: both Auto classes

__all__ = ["AttnEncoderForMaskedLM", "AttnViTConfig", "AttnViTModel", "AttnVLMConfig", "AttnVLMForConditionalGeneration",
           "AttnLMConfig", "AttnLMForCausalLM", "AttnSeq2SeqConfig",
           "AttnSeq2SeqForConditionalGeneration", "ICLAttention", "ICLConfig", "OCRConfig", "OCRTransformer"]
