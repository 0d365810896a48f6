using TiDHy.Kernels;

namespace TiDHy.CustomKernels;

/// <summary>
/// A kernel for the tests' small configuration (input_dim 6, r_dim 4, r2_dim 3, mix_dim 5,
/// hyper_hid_dim 8; MSE, linear decoder, full rank, no dynamic bias, no r2 decoder), every size fixed.
/// </summary>
[TiDHyKernel(Loss = KernelLoss.Mse, Decoder = KernelDecoder.Linear, LowRank = KernelSwitch.Off, DynBias = KernelSwitch.Off,
    R2Decoder = KernelSwitch.Off, D = 6, R = 4, R2 = 3, M = 5, H = 8)]
public static partial class SmallConfigKernel
{
}
