#!/usr/bin/env bash
# The packages as users get them: pack what ships (src.slnf: the src/ projects, so that no test-only
# package is restored) to a local folder feed, then, from that feed (and nuget.org for third-party
# packages) through examples/nuget.config (the feed's path put in) and with a NuGet cache of its own,
# so that no stale copy of these packages is ever tested:
#   1. F# Interactive with `#r "nuget: TiDHy.Functional"` fits a small model, and the printers of
#      `Fsi.install fsi` show a TrainState and a float[,,] in a few lines; with `#r "nuget:
#      TiDHy.Plots"` it draws the loss curves of that fit (no warning but FSharp.Core's NU1605);
#   2. a C# app with a PackageReference to TiDHy.CSharp declares its own [TiDHyKernel], which is
#      generated and chosen for the configuration it matches; built without AllowUnsafeBlocks it
#      fails with TIDHY006 alone (no CS0227);
#   3. `dotnet tool install --tool-path` installs `tidhy`, and `tidhy demo --epochs 1` runs;
#   4. an F# app with PackageReferences to TiDHy.Torch (which depends on TorchSharp, not on a native
#      runtime) and to libtorch-cpu-linux-x64 (the runtime, its own choice) builds (the package's
#      GLIBCXX step runs on its output) and computes on TorchSharp what the reference path computes;
#   5. `dotnet tool install --tool-path` installs `tidhy-torch` (libtorch's CPU build inside), and
#      `tidhy-torch --help` and a one-epoch `train --backend torch` run.
# Each restored package is checked to be byte for byte the one packed here.
#
# Third-party packages already in the NuGet cache of this machine (TIDHY_PACKAGING_MIRROR, by default
# $NUGET_PACKAGES or ~/.nuget/packages, read as a folder feed; empty: none) are taken from there and
# not downloaded again (libtorch is ~130 MB); they are the same files nuget.org serves. TiDHy's own
# packages never come from it (examples/nuget.config maps them to the local feed only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mirror=${TIDHY_PACKAGING_MIRROR-${NUGET_PACKAGES:-$HOME/.nuget/packages}}
[ -z "$mirror" ] || [ -d "$mirror" ] || mirror=""
work=$(mktemp -d "${TMPDIR:-/tmp}/tidhy-packaging-XXXXXX")
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/nuget-cache" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
feed="$work/feed"

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props")
echo "== dotnet pack src.slnf (version $version) into $feed"
dotnet pack "$root/src.slnf" -c Release -o "$feed" --nologo -v quiet ${mirror:+"-p:RestoreAdditionalProjectSources=$mirror"}
ls -sh "$feed"
for id in TiDHy.Kernels TiDHy.Functional TiDHy.CSharp TiDHy.Plots TiDHy.Torch tidhy tidhy-torch; do
  test -f "$feed/$id.$version.nupkg" || { echo "missing package $id.$version.nupkg" >&2; exit 1; }
done
# Packing restored no test-only package (the cache is this run's own, so it holds what the pack restored).
ls "$NUGET_PACKAGES" > "$work/packed-restores.txt"
echo "packing restored $(wc -l < "$work/packed-restores.txt") packages"
if grep -E '^(xunit|fscheck|microsoft\.net\.test\.sdk|microsoft\.testplatform|microsoft\.codecoverage|coverlet)' "$work/packed-restores.txt"; then
  echo "packing src.slnf restored the test-only packages above" >&2
  exit 1
fi
# (Listed to a file first: `unzip | grep -q` fails under pipefail when grep stops reading early.)
unzip -l "$feed/TiDHy.Kernels.$version.nupkg" > "$work/kernels-files.txt"
grep -q "analyzers/dotnet/cs/TiDHy.Generators.dll" "$work/kernels-files.txt" ||
  { echo "TiDHy.Kernels carries no generator" >&2; exit 1; }
# TiDHy.Torch depends on TorchSharp and on no native runtime (the application picks one).
unzip -p "$feed/TiDHy.Torch.$version.nupkg" TiDHy.Torch.nuspec > "$work/torch.nuspec"
grep -q 'id="TorchSharp"' "$work/torch.nuspec" || { echo "TiDHy.Torch does not depend on TorchSharp" >&2; exit 1; }
if grep -qi 'id="libtorch\|id="TorchSharp-' "$work/torch.nuspec"; then
  echo "TiDHy.Torch depends on a native runtime:" >&2
  grep -i 'dependency' "$work/torch.nuspec" >&2
  exit 1
fi

# TiDHy.Plots depends on Plotly.NET 6 and on the FSharp.Core that Plotly.NET 6 needs (10.1.403 or newer):
# an F# project whose SDK references an older FSharp.Core (10.1.401 in SDK 10.0.401) gets NU1605 unless
# it references FSharp.Core 10.1.403 itself.
unzip -p "$feed/TiDHy.Plots.$version.nupkg" TiDHy.Plots.nuspec > "$work/plots.nuspec"
grep -q 'id="FSharp.Core" version="10.1.403"' "$work/plots.nuspec" && grep -q 'id="Plotly.NET" version="6.0.0"' "$work/plots.nuspec" ||
  { cat "$work/plots.nuspec"; echo "TiDHy.Plots does not depend on Plotly.NET 6.0.0 and FSharp.Core 10.1.403" >&2; exit 1; }

# examples/nuget.config with this feed's path, and the mirror (when there is one) as a second source
# for every package but TiDHy's.
sed "s|value=\"./local-feed\"|value=\"$feed\"|" "$root/examples/nuget.config" > "$work/nuget.config"
grep -q "value=\"$feed\"" "$work/nuget.config" || { echo "examples/nuget.config has no ./local-feed source" >&2; exit 1; }
if [ -n "$mirror" ]; then
  sed -i -e "s|^\(  *\)<add key=\"nuget.org\"|\1<add key=\"cache-mirror\" value=\"$mirror\" />\n&|" \
    -e "s|^\(  *\)<packageSource key=\"nuget.org\">|\1<packageSource key=\"cache-mirror\"><package pattern=\"*\" /></packageSource>\n&|" \
    "$work/nuget.config"
  grep -q '<packageSource key="cache-mirror">' "$work/nuget.config" || { echo "the mirror was not added to nuget.config" >&2; exit 1; }
fi

# A restored package is the one packed here: the copy in the cache (NUGET_PACKAGES, or the folder
# given) is byte for byte the feed's file.
same_as_feed() {
  local id=$1 cache=${2:-$NUGET_PACKAGES} lower
  lower=$(echo "$id" | tr '[:upper:]' '[:lower:]')
  if ! cmp -s "$feed/$id.$version.nupkg" "$cache/$lower/$version/$lower.$version.nupkg"; then
    echo "$id $version was not restored from the feed just packed" >&2
    exit 1
  fi
}

echo "== 1. F# Interactive: #r \"nuget: TiDHy.Functional, $version\""
mkdir -p "$work/fsi" && cp "$work/nuget.config" "$work/fsi/"
cd "$work/fsi"
# Fed through standard input, as someone typing, so that FSI prints each value with the printers.
dotnet fsi --nologo > "$work/fsi/out.txt" 2>&1 <<FSX || { cat "$work/fsi/out.txt"; exit 1; }
#r "nuget: TiDHy.Functional, $version";;
open TiDHy.Functional;;
Fsi.install fsi;;
let cfg = { Config.defaults 3 with RDim = 3; R2Dim = 2; MixDim = 3; HyperHidDim = 8; MaxIter = 30 };;
let X = Array3D.init 8 12 3 (fun w t d -> sin (0.3 * float (w * 12 + t) + float d));;
let fit = Train.fit cfg { Train.defaultFitOptions cfg with BatchSize = 4; Epochs = 2; Progress = Train.consoleProgress } X None (Train.init cfg (Random.key 1));;
fit.State;;
if fit.State.Epoch <> 2 then exit 1;;
#r "nuget: TiDHy.Plots, $version";;
open TiDHy.Cli;;
let html = Plots.losses fit.State.History |> Plots.fragment;;
printfn "loss chart: %d characters, L_hat curve %b" html.Length (html.Contains "L_hat (reconstruction)");;
#quit;;
FSX
cat "$work/fsi/out.txt"
grep -q "^epoch 2/2: train " "$work/fsi/out.txt"
grep -q "float\[8; 12; 3\]  min " "$work/fsi/out.txt"
grep -q "TrainState: 2 epochs and 0 batches done" "$work/fsi/out.txt"
grep -q "loss chart: [0-9]* characters, L_hat curve true" "$work/fsi/out.txt" || { echo "no loss chart" >&2; exit 1; }
# No warning but NU1605 on FSharp.Core: Plotly.NET 6 (so TiDHy.Plots) needs FSharp.Core 10.1.403,
# newer than the one F# Interactive references (10.1.401 in SDK 10.0.401); it runs with its own.
if grep -i "warning" "$work/fsi/out.txt" | grep -v "warning NU1605: .*FSharp.Core"; then
  echo "F# Interactive printed the warnings above" >&2
  exit 1
fi
if grep -q "rank=3" "$work/fsi/out.txt"; then echo "a float[,,] printed as rank=3" >&2; exit 1; fi
same_as_feed TiDHy.Functional
same_as_feed TiDHy.Kernels
same_as_feed TiDHy.Plots

echo "== 2. C# app: PackageReference TiDHy.CSharp $version, its own [TiDHyKernel]"
cp -r "$here/CSharpConsumer" "$work/csharp"
cp "$work/nuget.config" "$here/Directory.Build.props" "$here/Directory.Build.targets" "$work/csharp/"
dotnet run --project "$work/csharp/CSharpConsumer.csproj" -c Release -p:TiDHyVersion="$version" --nologo -v quiet
same_as_feed TiDHy.CSharp
echo "== 2b. the same project without AllowUnsafeBlocks, a kernel declared and nothing generated used: TIDHY006 alone"
# A fresh folder (in the same one the compiler would not run again for a changed property), and a
# program that uses none of the generated members (code that does also gets CS0117 for each use).
mkdir "$work/csharp-no-unsafe"
cp "$here/CSharpConsumer/CSharpConsumer.csproj" "$work/nuget.config" "$here/Directory.Build.props" "$here/Directory.Build.targets" \
  "$work/csharp-no-unsafe/"
cat > "$work/csharp-no-unsafe/Program.cs" <<'CS'
using TiDHy.Kernels;

Console.WriteLine("a kernel declared");

[TiDHyKernel]
public static partial class NoUnsafeKernel { }
CS
if dotnet build "$work/csharp-no-unsafe/CSharpConsumer.csproj" -c Release -p:TiDHyVersion="$version" -p:AllowUnsafeBlocks=false \
  --nologo -v quiet > "$work/csharp-no-unsafe.txt" 2>&1; then
  cat "$work/csharp-no-unsafe.txt"
  echo "the build without AllowUnsafeBlocks succeeded" >&2
  exit 1
fi
grep -m1 "error TIDHY006: .*<AllowUnsafeBlocks>true</AllowUnsafeBlocks>" "$work/csharp-no-unsafe.txt" ||
  { cat "$work/csharp-no-unsafe.txt"; echo "no TIDHY006 error" >&2; exit 1; }
if grep -E "error (CS0227|CS[0-9]+)" "$work/csharp-no-unsafe.txt"; then
  echo "the build without AllowUnsafeBlocks reported compiler errors besides TIDHY006" >&2
  exit 1
fi

echo "== 3. dotnet tool install --tool-path: tidhy $version, then tidhy demo --epochs 1"
dotnet tool install tidhy --version "$version" --tool-path "$work/tools" --configfile "$work/nuget.config"
"$work/tools/tidhy" demo --epochs 1 --out "$work/demo"
test -f "$work/demo/index.html"
same_as_feed tidhy "$work/tools/.store/tidhy/$version"

echo "== 4. F# app: PackageReference TiDHy.Torch $version"
unzip -l "$feed/TiDHy.Torch.$version.nupkg" > "$work/torch-files.txt"
grep -q "buildTransitive/TiDHy.Torch.targets" "$work/torch-files.txt" ||
  { echo "TiDHy.Torch carries no buildTransitive/TiDHy.Torch.targets" >&2; exit 1; }
cp -r "$here/TorchConsumer" "$work/torch"
cp "$work/nuget.config" "$here/Directory.Build.props" "$here/Directory.Build.targets" "$work/torch/"
dotnet run --project "$work/torch/TorchConsumer.fsproj" -c Release -p:TiDHyVersion="$version" --nologo -v quiet
same_as_feed TiDHy.Torch

echo "== 5. dotnet tool install --tool-path: tidhy-torch $version, then --help and train --backend torch"
dotnet tool install tidhy-torch --version "$version" --tool-path "$work/tools" --configfile "$work/nuget.config"
same_as_feed tidhy-torch "$work/tools/.store/tidhy-torch/$version"
"$work/tools/tidhy-torch" --help > "$work/tidhy-torch-help.txt"
grep -q "train" "$work/tidhy-torch-help.txt" || { cat "$work/tidhy-torch-help.txt"; echo "tidhy-torch --help lists no train" >&2; exit 1; }
mkdir -p "$work/train"
awk 'BEGIN { for (t = 0; t < 120; t++) printf "%.6f,%.6f,%.6f\n", sin(0.1 * t), sin(0.1 * t + 1), cos(0.05 * t) }' > "$work/train/s.csv"
echo '{"r_dim": 2, "r2_dim": 2, "mix_dim": 3, "hyper_hid_dim": 4, "max_iter": 10, "sequence_length": 20, "overlap": 20, "num_epochs": 1}' > "$work/train/cfg.json"
"$work/tools/tidhy-torch" train --data "$work/train/s.csv" --config "$work/train/cfg.json" --out "$work/train/run" \
  --backend torch --device cpu --epochs 1 --batch-size 2
test -f "$work/train/run/model.json" || { echo "tidhy-torch train wrote no model.json" >&2; exit 1; }
echo "packaging: all five consumer checks passed"
