/// The upstream PyTorch training fixtures (`train_step`, `train_gradnorm`) on the core's engines, one
/// test case per fixture file, case and engine, through the conformance suite (`Conformance`).
module TiDHy.Functional.Tests.TrainingReferenceTests

open System.IO
open System.Text.Json
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Fixtures
open Xunit

/// One row per (fixture file, training case, inference backend): the training step with inference
/// through the F# reference path and through the fused float64 kernels; a single failing row when
/// the folder has no training case at all.
let cases () : obj[] seq =
    let rows =
        [
            for file in files referenceDir do
                let f = load file

                for name in f.Cases.Keys do
                    if trainingCases.Contains name then
                        for backend in [ "Reference"; "Fused" ] do
                            yield [| box (Path.GetFileNameWithoutExtension file); box name; box backend |]
        ]

    if rows.IsEmpty then
        Seq.singleton [| box $"(no training case in {referenceDir})"; box "none"; box "Fused" |]
    else
        Seq.ofList rows

[<Theory>]
[<MemberData(nameof cases)>]
let ``Reference training fixture matches upstream PyTorch`` (fixture: string, case: string, backend: string) =
    let backend =
        match backend with
        | "Reference" -> Backend.Reference
        | _ -> Backend.Fused

    Conformance.run (Train.engine backend) fixture case
