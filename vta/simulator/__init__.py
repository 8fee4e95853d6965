"""vta.simulator"""
