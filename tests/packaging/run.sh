#!/usr/bin/env bash
# The packages as users get them: pack the solution to a local folder feed, then, from that feed
# (and NuGet's usual source for third-party packages) with a NuGet cache of its own, so that no
# stale copy of these packages is ever tested:
#   1. F# Interactive with `#r "nuget: TiDHy.Functional"` fits a small model, and the printers of
#      `Fsi.install fsi` show a TrainState and a float[,,] in a few lines;
#   2. a C# app with a PackageReference to TiDHy.CSharp declares its own [TiDHyKernel], which is
#      generated and chosen for the configuration it matches;
#   3. `dotnet tool install --tool-path` installs `tidhy`, and `tidhy demo --epochs 1` runs;
#   4. an F# app with a PackageReference to TiDHy.Torch builds (the package's GLIBCXX step runs on
#      its output) and computes on TorchSharp what the reference path computes.
# Each restored package is checked to be byte for byte the one packed here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tidhy-packaging-XXXXXX")
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/nuget-cache" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
feed="$work/feed"

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props")
echo "== dotnet pack (version $version) into $feed"
dotnet pack "$root/TiDHy.Functional.sln" -c Release -o "$feed" --nologo -v quiet
ls "$feed"
for id in TiDHy.Kernels TiDHy.Functional TiDHy.CSharp TiDHy.Torch tidhy; do
  test -f "$feed/$id.$version.nupkg" || { echo "missing package $id.$version.nupkg" >&2; exit 1; }
done
# (Listed to a file first: `unzip | grep -q` fails under pipefail when grep stops reading early.)
unzip -l "$feed/TiDHy.Kernels.$version.nupkg" > "$work/kernels-files.txt"
grep -q "analyzers/dotnet/cs/TiDHy.Generators.dll" "$work/kernels-files.txt" ||
  { echo "TiDHy.Kernels carries no generator" >&2; exit 1; }

# The feed first, then the sources NuGet is configured with.
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="tidhy-local" value="$feed" />
  </packageSources>
</configuration>
XML

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
#quit;;
FSX
cat "$work/fsi/out.txt"
grep -q "^epoch 2/2: train " "$work/fsi/out.txt"
grep -q "float\[8; 12; 3\]  min " "$work/fsi/out.txt"
grep -q "TrainState: 2 epochs and 0 batches done" "$work/fsi/out.txt"
if grep -q "rank=3" "$work/fsi/out.txt"; then echo "a float[,,] printed as rank=3" >&2; exit 1; fi
same_as_feed TiDHy.Functional
same_as_feed TiDHy.Kernels

echo "== 2. C# app: PackageReference TiDHy.CSharp $version, its own [TiDHyKernel]"
cp -r "$here/CSharpConsumer" "$work/csharp"
cp "$work/nuget.config" "$here/Directory.Build.props" "$here/Directory.Build.targets" "$work/csharp/"
dotnet run --project "$work/csharp/CSharpConsumer.csproj" -c Release -p:TiDHyVersion="$version" --nologo -v quiet
same_as_feed TiDHy.CSharp

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
# TorchSharp and libtorch come from this run's cache, where packing the solution put them.
cp "$work/nuget.config" "$here/Directory.Build.props" "$here/Directory.Build.targets" "$work/torch/"
dotnet run --project "$work/torch/TorchConsumer.fsproj" -c Release -p:TiDHyVersion="$version" --nologo -v quiet
same_as_feed TiDHy.Torch
echo "packaging: all four consumer checks passed"
