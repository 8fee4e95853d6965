"""vta.hardware"""
