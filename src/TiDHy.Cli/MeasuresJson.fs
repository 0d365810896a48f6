/// The measures of an evaluation (`Measures`) as JSON: `measures.json`, which `tidhy eval` writes
/// beside its report and `tidhy sweep collect` reads back. Numbers are written round-trip; a value
/// that is not finite is written as null.
module TiDHy.Cli.MeasuresJson

open System
open System.Text.Json
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Cli.Measures

/// `v` as a JSON number, or null when it is not finite.
let number (v: float) : JsonNode =
    if Double.IsFinite v then JsonValue.Create v else null

let private obj (fields: (string * JsonNode) list) =
    let o = JsonObject()

    for k, v in fields do
        o[k] <- v

    o

let private spread (prefix: string) (s: DecodingSpread) =
    [ prefix, number s.Mean; prefix + "_std", number s.Std ]

let private comparison (c: TruthComparison option) =
    match c with
    | Some c ->
        [
            "matched", JsonValue.Create c.Matched :> JsonNode
            "truth", JsonValue.Create(c.Matched + c.FalseNegatives.Length)
            "precision", number c.Precision
        ]
    | None -> []

/// The measures as a JSON object: the decoding table (mean and standard deviation over the splits
/// of each feature and decoder, the chance levels), the ARHMM baseline, the label-free timescales
/// and the paper's per-state read-out (counts within the tolerance).
let toJson (m: Measures) : JsonObject =
    obj
        [
            "evaluation", JsonValue.Create m.Evaluation
            "steps", JsonValue.Create m.Steps
            "decoded_steps", JsonValue.Create m.DecodedSteps
            match m.Table with
            | Some t ->
                "decoding",
                obj
                    [
                        "classes", JsonValue.Create t.Classes
                        "block_length", JsonValue.Create t.BlockLength
                        "splits", JsonValue.Create t.Splits
                        "chance_block", number t.ChanceBlock
                        "chance_random", number t.ChanceRandom
                        "rows",
                        JsonArray(
                            [|
                                for r in t.Rows ->
                                    obj (
                                        [ "name", JsonValue.Create r.Name :> JsonNode ]
                                        @ spread "block_knn" r.BlockKnn
                                        @ spread "block_linear" r.BlockLinear
                                        @ spread "random_knn" r.RandomKnn
                                        @ spread "random_linear" r.RandomLinear
                                    )
                                    :> JsonNode
                            |]
                        )
                    ]
            | None -> ()
            match m.Arhmm with
            | Some a ->
                "arhmm",
                obj (
                    [
                        "states", JsonValue.Create a.States :> JsonNode
                        "log_likelihood_per_step", number a.Baseline.LogLikelihoodPerStep
                        if a.Baseline.Accuracies.Length > 0 then
                            "matched_accuracy", number a.Baseline.AccuracyMean
                            "matched_accuracy_std", number a.Baseline.AccuracyStd
                    ]
                    @ comparison a.Baseline.TimescaleComparison
                )
            | None -> ()
            "timescales",
            JsonArray(
                [|
                    for r in m.Timescales ->
                        obj (
                            [
                                "source", JsonValue.Create r.Source :> JsonNode
                                "count", JsonValue.Create r.Timescales.Length
                                "clusters", JsonValue.Create r.Clusters.Centres.Length
                            ]
                            @ comparison r.Comparison
                        )
                        :> JsonNode
                |]
            )
            match m.PerState with
            | Some(model, raw) ->
                "per_state",
                obj
                    [
                        "truth", JsonValue.Create model.Truth.Length
                        "r_hat_within", JsonValue.Create model.Within
                        "raw_input_within", JsonValue.Create raw.Within
                    ]
            | None -> ()
        ]

/// The JSON text of `toJson m`, indented, with a final newline.
let toText (m: Measures) =
    (toJson m).ToJsonString(JsonSerializerOptions(WriteIndented = true)) + "\n"
