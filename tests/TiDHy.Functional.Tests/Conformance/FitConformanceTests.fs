/// The conformance suite's fit checks (`Conformance`) on the core's engines: a fit cancelled
/// midway and resumed ends where the fit in one go does, bit for bit, and a diverging fit is
/// reported alike by each.
module TiDHy.Functional.Tests.FitConformanceTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

let private engineOf (name: string) =
    match name with
    | "Reference" -> Train.engine Backend.Reference
    | "Fused" -> Train.engine Backend.Fused
    | _ -> Train.engine Backend.FusedFloat32

[<Theory>]
[<InlineData("Reference", false)>]
[<InlineData("Reference", true)>]
[<InlineData("Fused", false)>]
[<InlineData("Fused", true)>]
[<InlineData("FusedFloat32", false)>]
let ``A fit cancelled midway and resumed ends where the fit in one go does`` (engine: string, stateful: bool) =
    Conformance.checkFitResumes
        0.0
        (engineOf engine)
        { smallConfig with
            Stateful = stateful
            GradNorm = true
        }

[<Fact>]
let ``A diverging fit is reported alike by the reference and fused engines`` () =
    let reference = Conformance.divergenceReport (engineOf "Reference")
    Assert.Equal(reference, Conformance.divergenceReport (engineOf "Fused"))

[<Fact>]
let ``The core's engines are named as the configuration names its backends`` () =
    let option = ConfigOptions.find "backend"

    let cases =
        match option.Kind with
        | OptionKind.Enum c -> c
        | _ -> failwith "backend is not an enum option"

    for b in [ Backend.Reference; Backend.Fused; Backend.FusedFloat32 ] do
        Assert.Equal(ConfigOptions.caseName cases (box b), (Train.engine b).Name)
