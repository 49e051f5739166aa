"""Runtimes: the compressed model in ONNX Runtime, OpenVINO and torchao, the float32 timing child and the predictor."""
