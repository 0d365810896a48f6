module TiDHy.Torch.Tests.LoadTests

open Xunit
open TorchSharp

[<Fact>]
let ``TorchSharp loads and computes on the CPU`` () =
    use a = torch.tensor ([| 1.0; 2.0; 3.0 |], dtype = torch.float64)
    use s = a.sum ()
    Assert.Equal(6.0, s.item<float>())
