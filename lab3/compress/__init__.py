"""Compression on tensors and models: quantize, GPTQ, prune, pack, mixed precision, distillation, calibration."""
