"""One small inference interface, several backends: TensorRT (GPU), ONNX Runtime (CPU/GPU), torch."""
