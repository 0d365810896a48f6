/// Nothing lost, nothing silent: divergence is caught at the step that produces it and never reaches
/// a checkpoint; checkpoints, configurations, state_dicts and `.npz` archives whose numbers or keys
/// are malformed are refused with a message naming the file and field.
module TiDHy.Functional.Tests.RobustnessTests

open System
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open System.Text
open System.Text.Json.Nodes
open TiDHy.Functional
open TiDHy.Functional.Tests.TestUtil
open Xunit

/// Outer learning rates so large that one AdamW step overflows the parameters to ±Infinity / NaN
/// while the step's own loss (computed before the update) is finite.
let private overflowing =
    { smallConfig with
        LearningRateS = 1.79e308
        LearningRateT = 1.79e308
        LearningRateH = 1.79e308
    }

/// Outer learning rates that leave finite but absurd parameters, on which inference gives NaN.
let private exploding =
    { smallConfig with
        LearningRateS = 1e300
        LearningRateT = 1e300
        LearningRateH = 1e300
    }

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), $"tidhy-robust-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

[<Fact>]
let ``Train.step raises at the step that makes the parameters non-finite, naming epoch, batch and quantity`` () =
    let X = TestInputs.syntheticWindows 1 4 5 overflowing.InputDim

    let s0 =
        { Train.init overflowing (Random.key 1) with
            Epoch = 2
            Batch = 1
        }

    let ex = Record.Exception(fun () -> Train.step overflowing s0 X |> ignore)
    Assert.NotNull ex
    Assert.IsAssignableFrom<InvalidOperationException> ex |> ignore
    Assert.Contains("epoch 3, batch 2", ex.Message)
    Assert.Contains("params '", ex.Message)

[<Fact>]
let ``Train.fit diverging on its last step raises and leaves no checkpoint with NaN`` () =
    let dir = tempDir ()
    let X = TestInputs.syntheticWindows 2 4 5 overflowing.InputDim

    let options =
        { Train.defaultFitOptions overflowing with
            BatchSize = 4
            Epochs = 1
            CheckpointDirectory = Some dir
        }

    let ex =
        Record.Exception(fun () ->
            Train.fit overflowing options X None (Train.init overflowing (Random.key 1))
            |> ignore)

    Assert.NotNull ex
    Assert.Contains("diverged", ex.Message)
    Assert.False(File.Exists(Path.Combine(dir, Train.LastCheckpoint)), "a checkpoint of the diverged state was written")

    Assert.False(
        File.Exists(Path.Combine(dir, Train.BestCheckpoint)),
        "a best checkpoint of the diverged state was written"
    )

[<Fact>]
let ``Train.fit raises on a NaN validation loss instead of going on, keeping the previous checkpoint`` () =
    let dir = tempDir ()
    let X = TestInputs.syntheticWindows 3 4 5 exploding.InputDim
    let V = TestInputs.syntheticWindows 4 2 5 exploding.InputDim

    let options =
        { Train.defaultFitOptions exploding with
            BatchSize = 4
            Epochs = 3
            CheckpointDirectory = Some dir
        }

    let ex =
        Record.Exception(fun () ->
            Train.fit exploding options X (Some V) (Train.init exploding (Random.key 1))
            |> ignore)

    Assert.NotNull ex
    Assert.Contains("validation loss", ex.Message)
    Assert.Contains("epoch 1", ex.Message)
    Assert.False(File.Exists(Path.Combine(dir, Train.LastCheckpoint)))

[<Fact>]
let ``Checkpoint.save refuses a non-finite state and leaves the existing file as it was`` () =
    let dir = tempDir ()
    let path = Path.Combine(dir, "c.tidhy.json")
    let s = Train.init smallConfig (Random.key 5)
    Checkpoint.save path smallConfig s
    let before = File.ReadAllBytes path

    let poisoned =
        { s with
            Optimizer =
                { s.Optimizer with
                    ExpAvgSq = ParamTree.map (fun _ -> infinity) s.Optimizer.ExpAvgSq
                }
        }

    let ex =
        Assert.Throws<CheckpointException>(fun () -> Checkpoint.save path smallConfig poisoned)

    Assert.Contains("exp_avg_sq", ex.Message)
    Assert.Contains(path, ex.Message)
    Assert.Equal<byte[]>(before, File.ReadAllBytes path)

    let nanWeights =
        { s with
            GradNorm =
                { s.GradNorm with
                    Weights = Array.map (fun _ -> nan) s.GradNorm.Weights
                }
        }

    let ex =
        Assert.Throws<CheckpointException>(fun () -> Checkpoint.save path smallConfig nanWeights)

    Assert.Contains("grad_norm.weights", ex.Message)
    Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"))

/// The checkpoint bytes of `s` with its JSON body changed by `edit` and a valid checksum.
let private rewritten (edit: JsonObject -> unit) =
    let bytes = Checkpoint.toBytes smallConfig (Train.init smallConfig (Random.key 6))
    let nl = Array.IndexOf(bytes, byte '\n')

    let body =
        JsonNode.Parse(Encoding.UTF8.GetString(bytes, nl + 1, bytes.Length - nl - 1)).AsObject()

    edit body
    let text = Encoding.UTF8.GetBytes(body.ToJsonString())
    let sha = Convert.ToHexString(SHA256.HashData text).ToLowerInvariant()
    Array.append (Encoding.ASCII.GetBytes $"TIDHY-CHECKPOINT 1 sha256={sha}\n") text

[<Theory>]
[<InlineData("epoch", "1.5")>]
[<InlineData("batch", "-1")>]
[<InlineData("epoch", "\"3\"")>]
[<InlineData("optimizer.step", "2147483648")>]
[<InlineData("optimizer.step", "-7")>]
[<InlineData("history", "{}")>]
let ``A checkpoint with a valid checksum but a malformed count is refused naming the field``
    (field: string, value: string)
    =
    let bytes =
        rewritten (fun o ->
            match field.Split '.' with
            | [| a |] -> o[a] <- JsonNode.Parse value
            | [| a; b |] ->
                let inner = o[a].AsObject()
                inner[b] <- JsonNode.Parse value
            | _ -> failwith field)

    let ex =
        Assert.Throws<CheckpointException>(fun () -> Checkpoint.ofBytes "run/x.tidhy.json" bytes |> ignore)

    Assert.StartsWith("run/x.tidhy.json: ", ex.Message)
    Assert.Contains(field, ex.Message)

[<Fact>]
let ``A checkpoint holding NaN parameters is refused on reading`` () =
    let bytes =
        rewritten (fun o ->
            let gn = o["grad_norm"].AsObject()
            let data = gn["weights"].AsArray()
            data[0] <- JsonValue.Create "NaN")

    let ex =
        Assert.Throws<CheckpointException>(fun () -> Checkpoint.ofBytes "x.tidhy.json" bytes |> ignore)

    Assert.Contains("grad_norm.weights", ex.Message)

[<Fact>]
let ``A configuration or state_dict with a key given twice is refused naming the key`` () =
    let ex =
        Assert.Throws<InvalidConfigException>(fun () ->
            ConfigJson.parse """{"input_dim": 3, "r_dim": 4, "r_dim": 5}""" |> ignore)

    Assert.Contains("r_dim", (string ex.errors.Head))
    Assert.Contains("duplicate", (string ex.errors.Head))

    let sd =
        StateDict.toJson (ParamLayout.ofParams (Init.init smallConfig (Random.key 1)))

    let first = sd.IndexOf "\n  \""
    let line = sd.Substring(first + 1, sd.IndexOf('\n', first + 1) - first - 1)
    let doubled = sd.Insert(first + 1, line + "\n")

    let ex =
        Assert.Throws<StateDictException>(fun () -> StateDict.parseJson doubled |> ignore)

    Assert.Contains(line.Trim().Split(':').[0].Trim('"'), ex.Message)
    Assert.Contains("2 times", ex.Message)

/// An `.npz` whose entry declares `size` uncompressed bytes in the central directory (a zip bomb's
/// claim), holding a small valid array.
let private npzDeclaring (size: uint32) =
    use m = new MemoryStream()

    do
        use zip = new ZipArchive(m, ZipArchiveMode.Create, true)
        let e = zip.CreateEntry("data.npy", CompressionLevel.Optimal)
        use s = e.Open()
        let b = Npy.toBytes NpyDtype.Float64 (Npy.ofMatrix (Array2D.create 4 2 1.0))
        s.Write(b, 0, b.Length)

    let bytes = m.ToArray()
    // The central directory header (PK\x01\x02) holds the uncompressed size at offset 24, the
    // local header (PK\x03\x04) at offset 22.
    let central = [| 0x50uy; 0x4Buy; 0x01uy; 0x02uy |]
    let local = [| 0x50uy; 0x4Buy; 0x03uy; 0x04uy |]
    let c = bytes.AsSpan().IndexOf(ReadOnlySpan central)
    let l = bytes.AsSpan().IndexOf(ReadOnlySpan local)
    Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(c + 24), size)
    Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(l + 22), size)
    bytes

[<Fact>]
let ``An npz entry that declares more than memory holds is refused naming the file and entry`` () =
    let ex =
        Assert.Throws<DataFormatException>(fun () -> Npy.parseNpz "bomb.npz" (npzDeclaring 0xFFFFFFF0u) |> ignore)

    Assert.Contains("bomb.npz, entry 'data.npy'", ex.Message)
    Assert.Contains("declares 4294967280 uncompressed bytes", ex.Message)

[<Fact>]
let ``An npz entry holding more or fewer bytes than it declares is refused`` () =
    let ex =
        Assert.Throws<DataFormatException>(fun () -> Npy.parseNpz "short.npz" (npzDeclaring 10u) |> ignore)

    Assert.Contains("short.npz, entry 'data.npy'", ex.Message)

[<Fact>]
let ``Checkpoints record what the fit trained on, and older ones without it still load`` () =
    let dir = tempDir ()
    let X = TestInputs.syntheticWindows 5 4 5 smallConfig.InputDim

    let options =
        { Train.defaultFitOptions smallConfig with
            BatchSize = 2
            Seed = 9
            Epochs = 1
            CheckpointDirectory = Some dir
        }

    Train.fit smallConfig options X None (Train.init smallConfig (Random.key 1))
    |> ignore

    let stored = Checkpoint.read (Path.Combine(dir, Train.LastCheckpoint))

    let expected =
        {
            BatchSize = 2
            Seed = 9
            TrainSha256 = Train.fingerprint X
            ValidationSha256 = None
            StatesSha256 = None
        }

    Assert.Equal(Some expected, stored.Run)

    Assert.NotEqual<string>(
        Train.fingerprint X,
        Train.fingerprint (TestInputs.syntheticWindows 6 4 5 smallConfig.InputDim)
    )
    // A checkpoint written without a run (as before it was recorded) reads with `Run = None`.
    let old = rewritten (fun o -> o.Remove "run" |> ignore)
    Assert.Equal(None, (Checkpoint.ofBytes "old" old).Run)

[<Fact>]
let ``DataFile.removeTemporaries removes only writeAtomic's temporary files`` () =
    let dir = tempDir ()
    let stale = Path.Combine(dir, $"last.tidhy.json.tmp-{Guid.NewGuid():N}")
    File.WriteAllText(stale, "partial")
    let keep = [ "notes.tmp-1"; "last.tidhy.json"; $"x.tmp-{Guid.NewGuid():N}z" ]

    for k in keep do
        File.WriteAllText(Path.Combine(dir, k), "")

    Assert.Equal(1, DataFile.removeTemporaries dir)
    Assert.False(File.Exists stale)

    for k in keep do
        Assert.True(File.Exists(Path.Combine(dir, k)), k)
