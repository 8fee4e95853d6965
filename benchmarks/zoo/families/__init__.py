"""The zoo's torch networks, one module per family; each class's constructor arguments are the
variations the catalog builds."""
