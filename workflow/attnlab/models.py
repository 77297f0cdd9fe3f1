"""Import this to register every attnlab model with the transformers Auto classes:

    import attnlab.models
    from transformers import AutoModel
    model = AutoModel.from_pretrained("results/ocr/runs/n20m5/factorized-d16-adam/seed0")
"""

from attnlab.ocr.model import OCRConfig, OCRTransformer

__all__ = ["OCRConfig", "OCRTransformer"]
