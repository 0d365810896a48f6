/// `Clustering` against scikit-learn and SciPy (analysis-expected.json, from
/// tests/scripts/make_analysis_expected.py): the assignment, the agreement measures, k-means.
module TiDHy.Functional.Tests.Analysis.ClusteringTests

open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.Analysis.AnalysisExpected
open Xunit

let assignmentCases () = caseNames "assignment"
let clusteringCases () = caseNames "clustering"

[<Theory>]
[<MemberData(nameof assignmentCases)>]
let ``linearSumAssignment agrees with SciPy's linear_sum_assignment`` (name: string) =
    let c = case "assignment" name
    let cost = matrix (c.GetProperty "cost")
    let a = Clustering.linearSumAssignment cost
    let total = c.GetProperty("total").GetDouble()
    assertClose $"assignment {name}: total" 1e-12 [ a.Cost ] [ total ]
    Assert.Equal(min (Array2D.length1 cost) (Array2D.length2 cost), a.Rows.Length)
    Assert.Equal(a.Rows.Length, Array.distinct a.Columns |> Array.length)
    Assert.Equal(a.Cost, Array.map2 (fun r col -> cost[r, col]) a.Rows a.Columns |> Array.sum)

    if not (name.Contains "ties") then // the optimum is unique: the same pairs
        Assert.Equal<int[]>(ints (c.GetProperty "rows"), a.Rows)
        Assert.Equal<int[]>(ints (c.GetProperty "columns"), a.Columns)

[<Theory>]
[<MemberData(nameof clusteringCases)>]
let ``clustering agreement agrees with scikit-learn to 1e-12`` (name: string) =
    let c = case "clustering" name
    let truth = ints (c.GetProperty "truth")
    let pred = ints (c.GetProperty "pred")
    let a = Clustering.clusterAgreement truth pred

    let check (what: string) (key: string) (actual: float) =
        let e = c.GetProperty(key).GetDouble()
        Assert.True(abs (actual - e) <= 1e-12, $"{name}: {what} {actual:R}, scikit-learn {e:R}")

    check "ARI" "adjusted_rand" a.AdjustedRand
    check "ARI (function)" "adjusted_rand" (Clustering.adjustedRandIndex truth pred)
    check "NMI" "nmi" a.NormalisedMutualInformation
    check "NMI (function)" "nmi" (Clustering.normalisedMutualInformation truth pred)
    check "homogeneity" "homogeneity" a.Homogeneity
    check "homogeneity (function)" "homogeneity" (Clustering.homogeneity truth pred)
    check "completeness" "completeness" a.Completeness
    check "completeness (function)" "completeness" (Clustering.completeness truth pred)
    check "V-measure" "v_measure" a.VMeasure
    check "V-measure (function)" "v_measure" (Clustering.vMeasure truth pred)
    check "purity" "purity" a.Purity
    check "purity (function)" "purity" (Clustering.purity truth pred)
    check "matched accuracy" "matched_accuracy" a.MatchedAccuracy
    check "matched accuracy (function)" "matched_accuracy" (Clustering.matchedAccuracy truth pred)

[<Fact>]
let ``kMeans separates clearly separated clusters`` () =
    let centres =
        [|
            [| 0.0; 0.0 |]
            [| 10.0; 0.0 |]
            [| 0.0; 10.0 |]
            [| 10.0; 10.0 |]
            [| 5.0; 20.0 |]
        |]

    let noise = Random.normal (Random.key 9) 1000
    let truth = Array.init 500 (fun i -> (i * 7) % 5)

    let x =
        Array2D.init 500 2 (fun i f -> centres[truth[i]][f] + 0.5 * noise[2 * i + f])

    let km = Clustering.kMeans (Random.key 1) 5 x
    Assert.Equal(1.0, Clustering.matchedAccuracy truth km.Labels)
    Assert.Equal(1.0, Clustering.adjustedRandIndex truth km.Labels)
    Assert.Equal(km, Clustering.kMeans (Random.key 1) 5 x)

[<Fact>]
let ``clusterAgreement takes the true labels first (the swapped order gives other numbers)`` () =
    // Hand-computed: one cluster holding two true labels is complete (each label lies in one
    // cluster) but not homogeneous (the cluster holds two labels); its purity is the larger label's
    // share. Swapped, one label is split over two clusters: homogeneous, not complete, pure.
    let truth = [| 0; 0; 0; 1 |]
    let pred = [| 0; 0; 0; 0 |]
    let a = Clustering.clusterAgreement truth pred
    Assert.True(abs (a.Homogeneity - 0.0) < 1e-12, $"a.Homogeneity = {a.Homogeneity}")
    Assert.True(abs (a.Completeness - 1.0) < 1e-12, $"a.Completeness = {a.Completeness}")
    Assert.True(abs (a.Purity - 0.75) < 1e-12, $"a.Purity = {a.Purity}")
    let swapped = Clustering.clusterAgreement pred truth
    Assert.True(abs (swapped.Homogeneity - 1.0) < 1e-12, $"swapped.Homogeneity = {swapped.Homogeneity}")
    Assert.True(abs (swapped.Completeness - 0.0) < 1e-12, $"swapped.Completeness = {swapped.Completeness}")
    Assert.True(abs (swapped.Purity - 1.0) < 1e-12, $"swapped.Purity = {swapped.Purity}")
