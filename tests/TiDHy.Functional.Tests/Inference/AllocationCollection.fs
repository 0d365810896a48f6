namespace TiDHy.Functional.Tests

open Xunit

/// The tests that count the current thread's allocations run alone: while other tests ran kernels
/// beside it, the C# facade's count grew with the batch once in CI (never alone).
[<CollectionDefinition("Allocation counts, run alone", DisableParallelization = true)>]
type AllocationCollection() = class end
