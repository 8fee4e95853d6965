"""pyvta: hardware-software co-design framework for the VTA accelerator."""
