#!/usr/bin/env bash
# Create a separate virtualenv holding stable-worldmodel 0.1.1 (LeWM) for benchmarks/versus.py.
# It never touches amiwm's own .venv. Usage: bash benchmarks/swm/setup.sh
# Override the location with SWM_VENV=/path/to/venv, the interpreter with SWM_BASE_PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SWM_VENV:-$ROOT/.venv-swm}"
BASE_PY="${SWM_BASE_PYTHON:-python3}"

case "$(cd "$(dirname "$VENV")" 2>/dev/null && pwd)/$(basename "$VENV")" in
  "$ROOT/.venv") echo "error: refusing to install stable-worldmodel into amiwm's .venv" >&2; exit 1 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PY" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# stable-worldmodel 0.1.1 does not import without opencv + imageio; LeWM needs transformers;
# its HDF5 datasets need h5py + hdf5plugin. Versions: what pip resolved here (2026-11), pinned.
"$PY" -m pip install \
  "torch==2.14.1" "torchvision==0.29.1" "stable-worldmodel==0.1.1" \
  "opencv-python-headless==5.0.0.93" "imageio==2.38.1" "transformers==5.24.0" \
  "h5py==3.16.0" "hdf5plugin==7.1.0"
# versus.py --task reacher|pusht runs amiwm's envs in this venv (amiwm's own pins: dm-control
# needs mujoco 3.x; gym-pusht without its deps, since its opencv-python pin would clash with
# the opencv-python-headless above, which provides the same cv2)
"$PY" -m pip install "dm-control==1.0.50" "mujoco==3.17.0" "pymunk==6.11.1" "pygame==2.6.1" \
  "shapely==2.2.0"
"$PY" -m pip install --no-deps "gym-pusht==0.1.8"
MUJOCO_GL="${MUJOCO_GL:-egl}" "$PY" - <<'PYEOF'
import importlib.metadata as md
for name in ("torch", "torchvision", "stable-worldmodel", "transformers", "opencv-python-headless",
             "imageio", "h5py", "hdf5plugin", "numpy", "gymnasium", "dm-control", "mujoco",
             "gym-pusht", "pymunk"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
import stable_worldmodel  # noqa: F401  (fails loudly if the install is incomplete)
from stable_worldmodel.wm.lewm import LeWM  # noqa: F401
import dm_control.suite, gym_pusht.envs  # noqa: F401,E401  (amiwm's reacher and pusht)
print("stable_worldmodel, dm_control and gym_pusht import OK")
PYEOF
echo "swm venv ready: $VENV"
