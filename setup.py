"""Maps the top-level layer folders (isa/, simulator/, ...) to the sub-packages vta.<folder>."""

from setuptools import find_packages, setup

LAYERS = ("isa", "simulator", "hardware", "runtime", "compiler", "fpga")

package_dir = {"vta": "vta"}
packages = ["vta"] + [f"vta.{name}" for name in find_packages("vta") if name.split(".")[0] not in LAYERS]
for layer in LAYERS:
    package_dir[f"vta.{layer}"] = layer
    packages += [f"vta.{layer}"] + [f"vta.{layer}.{name}" for name in find_packages(layer)]

setup(packages=packages, package_dir=package_dir,
      package_data={"vta.runtime.backends.rtl": ["*.cpp"], "vta.simulator.cycle": ["*.cpp"],
                    "vta.fpga": ["*.json"]})
