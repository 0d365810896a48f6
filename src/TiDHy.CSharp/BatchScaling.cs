namespace TiDHy.CSharp;

/// <summary>How inference scales the per-sample data terms of its loss.</summary>
public enum BatchScaling
{
    /// <summary>Upstream: data terms are averaged over the batch, so each sample moves by <c>lr/B</c> times its gradient.</summary>
    BatchMean,

    /// <summary>Each sample's own sum: a sample's step does not depend on the batch size.</summary>
    PerSample,
}
