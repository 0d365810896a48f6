/// TorchSharp scalars under garbage collection. A `Scalar` owns native memory that its finalizer
/// frees, so a temporary one can be freed by a collection on another thread while the native call
/// that reads it runs (CI once failed `INTERNAL ASSERT FAILED at c10/core/Scalar.h` in `square()`).
/// The backend hands TorchSharp only scalars that `TensorOps` keeps alive; these tests check the
/// compiled code for the other forms and run the backend with collections forced all the time.
module TiDHy.Torch.Tests.ScalarSafetyTests

open System
open System.Reflection
open System.Reflection.Emit
open System.Threading
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open TiDHy.Functional.Tests.TestInputs
open TiDHy.Torch
open TorchSharp
open Xunit

/// Every opcode by its value, for walking method bodies.
let private opcodes =
    typeof<OpCodes>.GetFields(BindingFlags.Public ||| BindingFlags.Static)
    |> Array.choose (fun f ->
        match f.GetValue null with
        | :? OpCode as o -> Some(o.Value, o)
        | _ -> None)
    |> dict

let private operandSize (o: OpCode) (il: byte[]) (at: int) =
    match o.OperandType with
    | OperandType.InlineNone -> 0
    | OperandType.ShortInlineBrTarget
    | OperandType.ShortInlineI
    | OperandType.ShortInlineVar -> 1
    | OperandType.InlineVar -> 2
    | OperandType.InlineI8
    | OperandType.InlineR -> 8
    | OperandType.InlineSwitch -> 4 + 4 * BitConverter.ToInt32(il, at)
    | _ -> 4

/// The methods and constructors that `m`'s body calls (call, callvirt, newobj, ldftn).
let private callees (m: MethodBase) : MethodBase list =
    match m.GetMethodBody() with
    | null -> []
    | body ->
        let il = body.GetILAsByteArray()

        let typeArgs =
            if m.DeclaringType.IsGenericType then
                m.DeclaringType.GetGenericArguments()
            else
                [||]

        let methodArgs = if m.IsGenericMethod then m.GetGenericArguments() else [||]
        let mutable at = 0
        let found = ResizeArray()

        while at < il.Length do
            let o =
                if il[at] = 0xFEuy then
                    let o = opcodes[int16 (0xFE00 ||| int il[at + 1])]
                    at <- at + 2
                    o
                else
                    let o = opcodes[int16 il[at]]
                    at <- at + 1
                    o

            if o.OperandType = OperandType.InlineMethod then
                let token = BitConverter.ToInt32(il, at)

                match m.Module.ResolveMethod(token, typeArgs, methodArgs) with
                | null -> ()
                | c -> found.Add c

            at <- at + operandSize o il at

        List.ofSeq found

/// A type's full name (its `ToString()` where `FullName` is null: open generic instantiations).
let private nameOf (t: Type) =
    if isNull t then
        ""
    else
        (match t.FullName with
         | null -> string t
         | n -> n)

let private describe (m: MethodBase) =
    let ps = m.GetParameters() |> Array.map _.ParameterType.Name |> String.concat ", "
    $"{nameOf m.DeclaringType}.{m.Name}({ps})"

let private isTensor (t: Type) = t = typeof<torch.Tensor>
let private isScalar (t: Type) = t = typeof<Scalar>

let private isPrimitiveNumber (t: Type) =
    t = typeof<float> || t = typeof<float32> || t = typeof<int> || t = typeof<int64>

/// TorchSharp members that make a `Scalar` inside and pass it on without keeping it: the alpha 1 of
/// `add`, `square`'s exponent 2, ELU's alpha, scale and input scale, and the operators between a
/// tensor and a number (an implicit conversion).
let private makesTemporaryScalar (c: MethodBase) =
    let ps = c.GetParameters() |> Array.map _.ParameterType

    if isTensor c.DeclaringType then
        match c.Name, ps with
        | "add", [| _ |]
        | "square", [||]
        | "elu", [| _ |] -> true
        | ("op_Addition" | "op_Subtraction" | "op_Multiply" | "op_Division"), [| a; b |] ->
            (c.Name = "op_Addition" && isTensor a && isTensor b)
            || isPrimitiveNumber a
            || isPrimitiveNumber b
            || (c.Name = "op_Addition" && (isScalar a || isScalar b))
        | _ -> false
    else
        (nameOf c.DeclaringType).StartsWith("TorchSharp.torch+nn+functional")
        && c.Name = "elu"

/// Inside `TensorOps` (the module, its closures, and the file's static initialiser that makes its
/// constants) scalars are made and kept alive; elsewhere no call may take or make one.
let private inTensorOps (m: MethodBase) =
    let rec names (t: Type) =
        if isNull t then [] else nameOf t :: names t.DeclaringType

    names m.DeclaringType
    |> List.exists (fun n -> n.EndsWith ".TensorOps" || n.EndsWith "$Tensors")

let private unsafeCalls () =
    let flags =
        BindingFlags.Public
        ||| BindingFlags.NonPublic
        ||| BindingFlags.Static
        ||| BindingFlags.Instance
        ||| BindingFlags.DeclaredOnly

    [
        for t in typeof<TorchOptions>.Assembly.GetTypes() do
            for m in Seq.append (t.GetMethods flags |> Seq.cast<MethodBase>) (t.GetConstructors flags |> Seq.cast) do
                for c in callees m do
                    let takesScalar =
                        isScalar (
                            match c with
                            | :? MethodInfo as mi -> mi.ReturnType
                            | _ -> typeof<Void>
                        )
                        || c.GetParameters() |> Array.exists (fun p -> isScalar p.ParameterType)

                    if makesTemporaryScalar c || (takesScalar && not (inTensorOps m)) then
                        yield $"{describe m} calls {describe c}"
    ]

[<Fact>]
let ``The walker finds TorchSharp calls in the backend's code`` () =
    // The check below is only as good as the walk: the backend's softThreshold must be seen calling
    // TensorOps, and TensorOps calling Tensor.clamp_min(Scalar).
    let all =
        [
            for t in typeof<TorchOptions>.Assembly.GetTypes() do
                for m in
                    t.GetMethods(
                        BindingFlags.Public
                        ||| BindingFlags.NonPublic
                        ||| BindingFlags.Static
                        ||| BindingFlags.Instance
                        ||| BindingFlags.DeclaredOnly
                    ) do
                    for c in callees m do
                        yield describe m, describe c
        ]

    Assert.Contains(all, fun (_, c) -> c = "TorchSharp.torch+Tensor.clamp_min(Scalar)")
    Assert.Contains(all, fun (_, c) -> c.Contains "TensorOps.clampMin")
    Assert.Contains(all, fun (_, c) -> c = "TorchSharp.torch+Tensor.add(Tensor, Scalar)")

[<Fact>]
let ``No code outside TensorOps hands TorchSharp a scalar that nothing keeps alive`` () =
    let bad = unsafeCalls ()
    Assert.True(List.isEmpty bad, "calls that make or pass temporary scalars:\n" + String.Join("\n", bad))

/// Forced collections on other threads all the time; runs alone (they would slow the other tests).
[<CollectionDefinition("forced collections", DisableParallelization = true)>]
type ForcedCollections() = class end

[<Collection("forced collections")>]
type ForcedCollectionTests() =
    /// A configuration that reaches every scalar the backend passes: ELU (nonlinear decoder, r2
    /// decoder), the dynamic bias, GradNorm, clipping, the optional regularisers, L1 in inference.
    let cfg =
        { smallConfig with
            NonlinDecoder = true
            UseR2Decoder = true
            DynBias = true
            GradNorm = true
            ClipGrad = 1e-3
            L1Alpha = 0.01
            OrthAlphaSpat = 0.1
            L1InfW = 0.01
            MaxIter = 20
            // A fixed iteration count: with a tolerance, whether a sample stops at iteration k or k + 1
            // can turn on rounding, and libtorch's BLAS rounds differently from call to call.
            Tol = 0.0
        }

    let X =
        let xs = Array.init 4 (fun t -> observations cfg.Loss (40 + t) 3 cfg.InputDim)
        Array3D.init 3 4 cfg.InputDim (fun b t d -> xs[t][b, d])

    let work () =
        let first =
            (TorchBackend.engine TorchOptions.cpu).InferFirstStep cfg (paramsFor cfg 5) X[*, 0, *]
        // Away from the orthogonal initialisation, where the cosines are ≈ 0 and the sign of their
        // derivative is decided by rounding (libtorch's BLAS does not round the same on every call).
        let s0 = Train.initState cfg (Inputs.perturb cfg 6 0.05 (paramsFor cfg 5))
        let s1, m1 = (TorchBackend.engine TorchOptions.cpu).Step cfg s0 X
        let _, m2 = (TorchBackend.engine TorchOptions.cpu).Step cfg s1 X

        [|
            yield! Seq.cast<float> first.R
            yield! ParamTree.leaves s1.Params |> Seq.collect snd
            m1.Total
            m2.Total
            m2.GradNormBeforeClip
        |]

    [<Fact>]
    member _.``Results are bitwise the same while other threads force collections``() =
        let expected = work ()
        use stop = new CancellationTokenSource()

        let collectors =
            Array.init 2 (fun _ ->
                let t =
                    Thread(
                        (fun () ->
                            while not stop.IsCancellationRequested do
                                GC.Collect()
                                GC.WaitForPendingFinalizers()),
                        IsBackground = true
                    )

                t.Start()
                t)

        try
            for i in 1..10 do
                let got = work ()
                Assert.True(got.Length = expected.Length, $"run {i}: {got.Length} values against {expected.Length}")

                for k in 0 .. got.Length - 1 do
                    if not (abs (got[k] - expected[k]) <= 1e-12 * (1.0 + abs expected[k])) then
                        failwith $"run {i}, value {k}: {got[k]:R} against {expected[k]:R}"
        finally
            stop.Cancel()

            for t in collectors do
                t.Join()
