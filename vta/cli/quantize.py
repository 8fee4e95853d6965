"""Quantize a float ONNX model to int8 QDQ for VTA with onnxruntime's static quantizer:
int8 activations, symmetric per-channel int8 weights, MinMax calibration on the given inputs."""

from pathlib import Path

from vta.cli.common import check_outputs
from vta.cli.output import add_output_options, emit
from vta.isa import progress

NAME = "quantize"
HELP = "quantize a float ONNX model to int8 (QDQ) for VTA"


def add_arguments(parser):
    parser.add_argument("model", type=Path, help="float ONNX model")
    parser.add_argument("--calibrate", required=True, metavar="DIR_OR_NPY", type=Path,
                        help="calibration inputs: a .npy/.npz file of samples, or a folder of "
                             ".npy/.npz files and images")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", type=Path,
                        help="where to write the int8 QDQ model")
    parser.add_argument("--power-of-two", action="store_true",
                        help="round scales up to powers of two (shift-only requantization, for "
                             "configs without ALU_MUL)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of per output channel")
    parser.add_argument("--no-preprocess", action="store_true",
                        help="skip onnxruntime's quant_pre_process (shape inference, folding)")
    parser.add_argument("--mean", type=float, nargs="+", default=[0.0],
                        help="images: subtracted after scaling pixels to [0, 1] (per channel; "
                             "default: %(default)s)")
    parser.add_argument("--std", type=float, nargs="+", default=[1.0],
                        help="images: divisor after subtracting the mean (per channel; "
                             "default: %(default)s)")
    add_output_options(parser)


def run(args) -> int:
    from vta.compiler.quantize import quantize_file
    check_outputs([args.output], [args.model, args.calibrate])
    with progress.step(f"quantizing {args.model.name} (calibration with onnxruntime)"):
        count = quantize_file(args.model, args.calibrate, args.output, mean=args.mean,
                              std=args.std, power_of_two=args.power_of_two,
                              per_channel=not args.per_tensor, preprocess=not args.no_preprocess)
    note = " (power-of-two scales)" if args.power_of_two else ""
    emit(args, {"output": args.output, "samples": count, "power_of_two": args.power_of_two,
                "per_channel": not args.per_tensor},
         f"{args.output}: int8 QDQ model calibrated on {count} samples{note}")
    return 0
