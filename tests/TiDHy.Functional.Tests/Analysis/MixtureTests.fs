/// `Mixture` against `scipy.stats.entropy` (analysis-expected.json, from
/// tests/scripts/make_analysis_expected.py) and by hand.
module TiDHy.Functional.Tests.Analysis.MixtureTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

[<Fact>]
let ``entropy agrees with scipy.stats.entropy`` () =
    for c in cases "entropy" do
        let w = floats (c.GetProperty "weights")
        assertClose "entropy" 1e-12 [ Mixture.entropy w ] [ c.GetProperty("entropy").GetDouble() ]

[<Fact>]
let ``mixtureUsage: mean weight, share and entropies`` () =
    let w =
        array2D [ [ 1.0; 0.0; 0.0 ]; [ 1.0; 1.0; 0.0 ]; [ 0.0; 0.0; 0.0 ]; [ 2.0; 1.0; 0.0 ] ]

    let u = Mixture.mixtureUsage w
    Assert.Equal<float[]>([| 1.0; 0.5; 0.0 |], u.MeanWeight)
    Assert.Equal<float[]>([| 2.0 / 3.0; 1.0 / 3.0; 0.0 |], u.Share)
    // Steps: one component (0), two equal (log 2), none (0 by definition), 2:1.
    let h21 = -(2.0 / 3.0 * log (2.0 / 3.0) + 1.0 / 3.0 * log (1.0 / 3.0))
    assertClose "step entropy" 1e-14 u.StepEntropy [ 0.0; log 2.0; 0.0; h21 ]
    assertClose "usage entropy" 1e-14 [ u.UsageEntropy ] [ h21 ]
    assertClose "mean step entropy" 1e-14 [ u.MeanStepEntropy ] [ (log 2.0 + h21) / 4.0 ]
