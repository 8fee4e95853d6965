"""pyvta: hardware-software co-design framework for the VTA accelerator."""

__version__ = "0.1.0"
