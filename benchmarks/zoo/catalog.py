"""The zoo's models: at least one per family of issue 11, in the attribute combinations real
exports produce (opsets 13 and 17, strides, kernel sizes, paddings, Resize modes, fused or
separate attention projections, torch's own attention and recurrent modules, batch-first GRU),
plus the CNNs the compiler handled first."""

from __future__ import annotations

from zoo.inputs import InputSpec
from zoo.pipeline import ZooModel

#: Acceptance: share of MACs on VTA for convolutional models, and for transformers and RNNs.
CONVOLUTIONAL, SEQUENCE = 0.98, 0.90


def _image(size: int, channels: int = 3, **options) -> tuple[InputSpec, ...]:
    return (InputSpec("image", (1, channels, size, size), "image", options),)


def _digits():
    from vta.compiler.models import build_digits
    return build_digits()


def _resnet18():
    from vta.compiler.models import build_resnet18
    return build_resnet18(seed=0)


def _efficientnet_lite0():
    from vta.compiler.models import build_efficientnet_lite0
    return build_efficientnet_lite0()


MODELS: tuple[ZooModel, ...] = (
    ZooModel("mobilenet_v2", "MobileNetV2", _image(32), True, CONVOLUTIONAL,
             "cnn.MobileNetV2", opset=13,
             description="inverted residuals, ReLU6, depthwise 3×3, 24/48 channels"),
    ZooModel("vgg_small", "VGG", _image(32), True, CONVOLUTIONAL, "cnn.VGG", opset=13,
             description="3×3 conv + BN + ReLU, max pooling, view-flatten, two FC layers"),
    ZooModel("resnet_small", "ResNet", _image(32), True, CONVOLUTIONAL, "cnn.ResNet", opset=17,
             description="CIFAR-style basic blocks, 1×1 stride-2 shortcuts, global pooling"),
    ZooModel("digits", "CNN (trained)", (InputSpec("image", (1, 1, 28, 28), "digit"),), True,
             CONVOLUTIONAL, prebuilt=_digits,
             description="digit-recognizer-py MNIST CNN, trained weights (vta.compiler.models)"),
    ZooModel("mobilenet_v3", "MobileNetV3", _image(64), True, CONVOLUTIONAL,
             "mobilenetv3.MobileNetV3", opset=17, preprocess=False,
             description="HardSwish operator (kept: no pre-processing, which inlines it), "
                         "squeeze-excite HardSigmoid·Mul, 3×3 and 5×5 depthwise"),
    ZooModel("mobilenet_v3_opset13", "MobileNetV3", _image(48), True, CONVOLUTIONAL,
             "mobilenetv3.MobileNetV3", {"stem": 8, "last": 64, "hidden": 64, "classes": 16,
                                       "settings": ((3, 16, 16, True, False, 2),
                                                    (3, 40, 24, False, True, 2),
                                                    (5, 72, 32, True, True, 1))},
             opset=13, description="HardSwish as HardSigmoid·Mul (opset 13), 48×48"),
    ZooModel("unet", "U-Net", _image(64), False, CONVOLUTIONAL, "unet.UNet", opset=13,
             description="ConvTranspose 2×2/2 up-sampling, skip Concat, 3 levels"),
    ZooModel("unet_k3", "U-Net", _image(32), False, CONVOLUTIONAL, "unet.UNet",
             {"widths": (8, 16, 32, 64), "kernel": 3, "classes": 4}, opset=13,
             description="4 levels, ConvTranspose 3×3/2 with output padding, 32×32"),
    ZooModel("unet_bilinear", "U-Net", _image(50, channels=1), False, CONVOLUTIONAL, "unet.UNet",
             {"channels": 1, "classes": 3, "bilinear": True}, opset=17,
             description="bilinear align_corners Resize, odd sizes padded before Concat, grey "
                         "50×50"),
    ZooModel("yolo_tiny", "YOLO", _image(64), False, CONVOLUTIONAL, "yolo.TinyYolo", opset=13,
             description="LeakyRelu, pad + stride-1 MaxPool, nearest Resize, Concat, 3-D "
                         "Reshape, Sigmoid, YOLOv5 box decoding"),
    ZooModel("yolov5n", "YOLO", _image(64), False, CONVOLUTIONAL, "yolo.YoloV5", opset=17,
             description="6×6/2 stem, stride-2 convolutions, C3 blocks, SPPF (5×5 stride-1 "
                         "MaxPool ×3), SiLU as Sigmoid·Mul, nearest Resize, two Detect heads"),
    ZooModel("vit_tiny", "ViT", _image(32), True, SEQUENCE, "vit.VisionTransformer", opset=17,
             description="patch 4 (65 tokens), fused QKV, scale by Mul, LayerNormalization, "
                         "Linears as Reshape/Gemm (pre-processing's fusion)"),
    ZooModel("vit_hf", "ViT", _image(32), True, SEQUENCE, "vit.VisionTransformer",
             {"patch": 8, "dim": 48, "heads": 3, "mlp": 96, "depth": 3, "fused_qkv": False,
              "divide": True}, opset=13, preprocess=False,
             description="patch 8 (17 tokens), separate Q/K/V as 3-D MatMul + Add, scale by "
                         "Div, LayerNorm decomposed (opset 13), shape sub-graphs unfolded"),
    ZooModel("bert_tiny", "BERT", (InputSpec("input_ids", (1, 32), "tokens",
                                             {"vocabulary": 1000, "cls": 2}),
                                   InputSpec("token_type_ids", (1, 32), "segments")),
             True, SEQUENCE, "bert.Bert", opset=17, preprocess=False,
             description="token/position/segment embeddings, 3-D MatMul + Add, 2 post-norm "
                         "layers, 32 tokens"),
    ZooModel("gru_cell", "GRU", (InputSpec("sequence", (1, 16, 16), "sequence"),), True,
             SEQUENCE, "gru.GRUCellClassifier", opset=13,
             description="hand-written GRU cell unrolled over 16 steps, batch first"),
    ZooModel("gru_layer", "GRU", (InputSpec("input_ids", (1, 24), "tokens",
                                            {"vocabulary": 500}),),
             True, SEQUENCE, "gru.GRUClassifier", opset=14,
             description="Embedding + torch.nn.GRU(batch_first) = the ONNX GRU operator"),
    ZooModel("gru_bidirectional", "GRU", (InputSpec("features", (1, 20, 16), "sequence"),),
             True, SEQUENCE, "gru.GRUClassifier",
             {"vocabulary": None, "embedding": 16, "hidden": 24, "classes": 4, "layers": 2,
              "bidirectional": True}, opset=13,
             description="two stacked bidirectional GRU operators on 20 steps of 16 features"),
    ZooModel("dcgan", "DCGAN", (InputSpec("latent", (1, 32, 1, 1), "latent"),), False,
             CONVOLUTIONAL, "dcgan.Generator", {"width": 8}, opset=13,
             description="ConvTranspose 4×4 (stride 1, then stride 2), BN, ReLU, Tanh, 32×32"),
    ZooModel("convnext_tiny", "ConvNeXt", _image(32), True, CONVOLUTIONAL, "convnext.ConvNeXt",
             opset=13,
             description="4×4/4 stem, depthwise 7×7, channels-last LayerNorm, 4-D MatMuls, GELU, "
                         "channels-first LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div"),
    ZooModel("convnext_opset17", "ConvNeXt", _image(64), True, CONVOLUTIONAL, "convnext.ConvNeXt",
             {"depths": (1, 1, 1), "dims": (16, 32, 64)}, opset=17, preprocess=False,
             description="3 stages, LayerNormalization channels-last, Linears as 4-D MatMul + Add "
                         "(no pre-processing), 64×64"),
    ZooModel("transformer_encoder", "Transformer",
             (InputSpec("input_ids", (1, 32), "tokens", {"vocabulary": 1000}),), True, SEQUENCE,
             "encoder.EncoderClassifier", opset=17, preprocess=False,
             description="torch.nn.TransformerEncoder (post-norm, ReLU, sequence first): "
                         "nn.MultiheadAttention's export (packed in-projection, heads in the "
                         "batch axis, √scale on Q and Kᵀ), mean over tokens"),
    ZooModel("vit_torchvision", "ViT", _image(32), True, SEQUENCE, "encoder.TorchvisionViT",
             {"approximate": "tanh"}, opset=17, preprocess=False,
             description="torchvision's ViT blocks: nn.MultiheadAttention(batch_first) with "
                         "need_weights=False, GELU's tanh approximation"),
    ZooModel("lstm", "LSTM", (InputSpec("features", (1, 20, 16), "sequence"),), True, SEQUENCE,
             "lstm.RecurrentClassifier", opset=17,
             description="two stacked torch.nn.LSTM layers (batch first): ONNX LSTM operators"),
    ZooModel("resnet18", "ResNet", _image(224), True, CONVOLUTIONAL, prebuilt=_resnet18,
             large=True, description="ResNet-18, 224×224, seeded random weights"),
    ZooModel("efficientnet_lite0", "EfficientNet", _image(224, mean=127 / 255, std=128 / 255),
             True, CONVOLUTIONAL, prebuilt=_efficientnet_lite0, large=True,
             description="EfficientNet-Lite0, trained ImageNet weights"),
)


def names(large: bool = True) -> list[str]:
    return [m.name for m in MODELS if large or not m.large]


def get(name: str) -> ZooModel:
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(f"no zoo model {name!r} (the zoo has {', '.join(names())})")
