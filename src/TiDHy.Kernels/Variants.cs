namespace TiDHy.Kernels;

/// <summary>
/// Every option and size read at run time: the kernel that runs any configuration of MODEL.md when no
/// more specific variant matches.
/// </summary>
[TiDHyKernel]
public static partial class GeneralKernel
{
}

/// <summary>The common case: squared error, linear decoder, full rank, no dynamic bias, no r2 decoder; sizes at run time.</summary>
[TiDHyKernel(Loss = KernelLoss.Mse, Decoder = KernelDecoder.Linear, LowRank = KernelSwitch.Off, DynBias = KernelSwitch.Off, R2Decoder = KernelSwitch.Off)]
public static partial class MseLinearKernel
{
}

/// <summary>
/// Upstream's SLDS configuration (input_dim 20 after the random projection, r_dim 10, r2_dim 5,
/// mix_dim 15, hyper_hid_dim 50) with squared error, a linear decoder, full rank, no dynamic bias and
/// no r2 decoder: every size a constant. Batch scaling and convergence stay run-time choices.
/// </summary>
[TiDHyKernel(Loss = KernelLoss.Mse, Decoder = KernelDecoder.Linear, LowRank = KernelSwitch.Off, DynBias = KernelSwitch.Off,
    R2Decoder = KernelSwitch.Off, D = 20, R = 10, R2 = 5, M = 15, H = 50)]
public static partial class SldsKernel
{
}
