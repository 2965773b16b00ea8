"""The command line (``dogbreeds``), on top of every other layer.

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "program": [
            "main",
        ],
    },
)
