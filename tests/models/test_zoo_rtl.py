"""Issue 11's acceptance "one model of each of U-Net, ViT, GRU runs bit-exact on the RTL backend
against the functional one": the zoo runner's RTL mode (`scripts/zoo.py --rtl`,
`evaluate(..., rtl=True)`) runs the compiled model's first reference input on the generated
Verilog under Verilator and compares every output with the functional backend's.

The suite runs scaled-down U-Net and ViT models (same families and exports, 16×16 inputs); the
zoo's own models are slow-marked (scripts/zoo.py MODEL --rtl prints the same verdict)."""

import pytest

import zoo
from zoo import evaluate
from zoo.catalog import CONVOLUTIONAL, SEQUENCE
from zoo.inputs import InputSpec
from zoo.pipeline import ZooModel
from zoo.pipeline import build as build_spec
from vta.isa import Config

PYNQ = Config.preset("pynq")


def _image(size):
    return (InputSpec("image", (1, 3, size, size), "image"),)


#: Scaled-down members of the zoo's U-Net and ViT families (not catalog entries: built into the
#: model cache under their own names).
SCALED_DOWN = {
    "unet": ZooModel("unet_rtl16", "U-Net", _image(16), False, CONVOLUTIONAL, "unet.UNet",
                     {"widths": (8, 16, 32)}, opset=13,
                     description="ConvTranspose 2×2/2, skip Concat, 3 levels, 16×16"),
    "vit": ZooModel("vit_rtl16", "ViT", _image(16), True, SEQUENCE, "vit.VisionTransformer",
                    {"size": 16, "patch": 4, "dim": 32, "depth": 1, "heads": 2, "mlp": 64},
                    opset=17, description="patch 4 (17 tokens), one block, fused QKV"),
}


def _on_rtl(built):
    result = evaluate.evaluate(built, PYNQ, samples=1, rtl=True)
    assert result.compiled and result.error is None, result.error
    assert result.rtl_agrees is True
    assert result.passed, result.failures
    return result


@pytest.mark.parametrize("family", SCALED_DOWN)
def test_scaled_down_model_is_bit_exact_on_rtl(family, torch_installed):
    result = _on_rtl(build_spec(SCALED_DOWN[family], 0, False))
    assert result.vta_mac_share == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet", "unet_k3", "vit_tiny", "vit_hf"])
def test_zoo_model_is_bit_exact_on_rtl(name, torch_installed):
    _on_rtl(zoo.build(name))
