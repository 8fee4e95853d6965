"""pyvta: hardware-software co-design framework for the VTA accelerator.

`InferenceSession` runs a compiled model (``.vtab``) as onnxruntime's does; `compile` compiles
an ONNX model for a config and `save` writes the result (`vta.inference`).
"""

__version__ = "0.1.0"

__all__ = ["InferenceSession", "TensorInfo", "__version__", "compile", "save"]


def __getattr__(name: str):
    # Loaded on first use: `import vta` (the command line's, too) stays light.
    if name in ("InferenceSession", "TensorInfo", "compile", "save"):
        from vta import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'vta' has no attribute {name!r}")
