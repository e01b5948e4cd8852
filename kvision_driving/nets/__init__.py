"""torch modules: the segmentation and action networks, the GAN; their training loops and ONNX export."""
