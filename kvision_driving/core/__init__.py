"""numpy-only types and geometry: frames, rigid transforms, pinhole camera, timing statistics."""
