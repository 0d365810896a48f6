namespace TiDHy.Functional

open System

/// The argument checks that the analysis modules (`Decoding`, `Clustering`, `Timescales`, `Mixture`,
/// `TrainingMonitor`) share: each raises an `ArgumentException` (or `ArgumentNullException`) that
/// names the argument.
module internal AnalysisChecks =

    let fail (name: string) (message: string) =
        raise (ArgumentException($"{name}: {message}", name))

    let checkNotEmpty (name: string) (length: int) =
        if length < 1 then
            fail name "expected at least one sample, got none."

    let checkNotNull (name: string) (value: obj) =
        if isNull value then
            nullArg name
