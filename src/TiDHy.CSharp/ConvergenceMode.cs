namespace TiDHy.CSharp;

/// <summary>When inference stops iterating.</summary>
public enum ConvergenceMode
{
    /// <summary>Upstream <c>batch_converge = true</c>: the relative change of the whole batch is below <c>Tol</c>.</summary>
    Batch,

    /// <summary>Upstream <c>batch_converge = false</c>: every sample's relative change is below <c>Tol</c>; one batch-wide stop.</summary>
    AllSamples,

    /// <summary>Each sample stops on its own and keeps its values while the others continue.</summary>
    PerSample,
}
