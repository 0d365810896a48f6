/// Tests of the generated training passes: the registry gives `FusedObjective` the most specific
/// generated variant for a configuration, and each declared variant's pass (the library's three and
/// the tests' own SmallConfigKernel, generated in another assembly) equals the definition
/// `Objective.terms` on a configuration it covers.
module TiDHy.Functional.Tests.GeneratedTrainingTests

open System
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Functional.Tests.ObjectiveTests
open TiDHy.Functional.Tests.FusedObjectiveTests
open TiDHy.Kernels
open Xunit

/// Upstream's SLDS sizes with the options SldsKernel fixes.
let private sldsConfig =
    { Config.defaults 20 with
        RDim = 10
        R2Dim = 5
        MixDim = 15
        HyperHidDim = 50
        Loss = LossKind.MSE
        NonlinDecoder = false
        LowRankTemp = false
        DynBias = false
        UseR2Decoder = false
    }

/// MseLinearKernel's options at sizes no sized variant fixes.
let private mseLinearConfig =
    { sldsConfig with
        InputDim = 7
        RDim = 3
    }

/// Options only GeneralKernel covers.
let private generalConfig =
    { smallConfig with
        Loss = LossKind.BCE
        NonlinDecoder = true
        LowRankTemp = true
        DynBias = true
        UseR2Decoder = true
    }

let private inputs (cfg: Config) =
    firstSmooth
        (string cfg)
        (fun seed -> paramsFor cfg seed, randomTrajectory cfg (seed + 11) 37 3 true)
        (fun (p, traj) -> Objective.values cfg p traj |> LossTerms.toList |> List.forall Double.IsFinite)

[<Fact>]
let ``The dispatch gives each configuration the most specific generated training variant`` () =
    // A kernel registers itself when its assembly loads: load the tests' own kernel assembly first.
    Assert.Equal<string>("TiDHy.CustomKernels.SmallConfigKernel", TiDHy.CustomKernels.SmallConfigKernel.Variant.Name)

    for cfg, expected in
        [
            sldsConfig, "TiDHy.Kernels.SldsKernel"
            mseLinearConfig, "TiDHy.Kernels.MseLinearKernel"
            generalConfig, "TiDHy.Kernels.GeneralKernel"
            smallConfig, "TiDHy.CustomKernels.SmallConfigKernel"
            // Batch scaling and convergence do not enter the objective: they do not change the choice.
            { sldsConfig with
                BatchScaling = BatchScaling.PerSample
                Convergence = Convergence.PerSample
            },
            "TiDHy.Kernels.SldsKernel"
        ] do
        let shape = FusedObjective.shape cfg
        Assert.Equal(expected, (TrainingKernels.Find shape).Variant.Name)

        for float32 in [ false; true ] do
            Assert.Equal(expected, (TrainingKernels.Create(shape, float32)).VariantName)

[<Fact>]
let ``Each declared variant's generated training pass equals Objective.terms on a configuration it covers`` () =
    let variants =
        [
            TiDHy.Kernels.SldsKernel.Kernel, sldsConfig
            TiDHy.Kernels.MseLinearKernel.Kernel, mseLinearConfig
            TiDHy.Kernels.MseLinearKernel.Kernel, sldsConfig
            TiDHy.Kernels.GeneralKernel.Kernel, generalConfig
            TiDHy.Kernels.GeneralKernel.Kernel, sldsConfig
            TiDHy.CustomKernels.SmallConfigKernel.Kernel, smallConfig
        ]

    for kernel, cfg in variants do
        let p, traj = inputs cfg
        let e = Objective.terms cfg p traj

        for float32, tol in [ false, float64Tol; true, float32Tol ] do
            let k = kernel.CreateTraining(FusedObjective.shape cfg, float32)
            Assert.Equal(kernel.Variant.Name, k.VariantName)
            let a = FusedObjective.termsOn k cfg p traj
            let err = termsError a e
            report $"{kernel.Variant.Name} float32={float32}" err tol
            Assert.True(err <= tol, $"{kernel.Variant.Name} float32={float32}: relative error {err:E3} > {tol:E0}")

[<Fact>]
let ``A generated training variant refuses a configuration it does not cover`` () =
    for kernel, cfg in
        [
            TiDHy.Kernels.SldsKernel.Kernel, mseLinearConfig
            TiDHy.Kernels.MseLinearKernel.Kernel, generalConfig
            TiDHy.CustomKernels.SmallConfigKernel.Kernel, sldsConfig
        ] do
        let ex =
            Assert.Throws<ArgumentException>(fun () -> kernel.CreateTraining(FusedObjective.shape cfg, false) |> ignore)

        Assert.Contains(kernel.Variant.Name, ex.Message)
