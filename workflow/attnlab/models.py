"""Import this to register every attnlab model with the transformers Auto classes:

    import attnlab.models
    from transformers import AutoModel, AutoModelForCausalLM
    model = AutoModel.from_pretrained("results/ocr/runs/n20m5/factorized-d16-adam/seed0")
    lm = AutoModelForCausalLM.from_pretrained("results/moh/runs/markov/moh75/seed0")
"""

from transformers import AutoConfig, AutoModelForCausalLM

from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.ocr.model import OCRConfig, OCRTransformer

AutoConfig.register(AttnLMConfig.model_type, AttnLMConfig, exist_ok=True)
AutoModelForCausalLM.register(AttnLMConfig, AttnLMForCausalLM, exist_ok=True)

__all__ = ["AttnLMConfig", "AttnLMForCausalLM", "OCRConfig", "OCRTransformer"]
