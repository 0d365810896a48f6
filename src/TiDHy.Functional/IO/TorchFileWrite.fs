namespace TiDHy.Functional

open System
open System.IO
open System.IO.Compression
open System.Text

/// Writing PyTorch's `torch.save` files (`TorchFile.writeStateDictAs`): the pickle of a state_dict
/// of contiguous storages and the zip around it.
[<RequireQualifiedAccess>]
module internal TorchFileWrite =

    /// The protocol-2 pickle of a state_dict whose tensor `i` (in `entries`' order) is the
    /// contiguous storage `i` of `dtype` (`"DoubleStorage"` or `"FloatStorage"`).
    let private pickle (storageType: string) (entries: (string * NamedTensor) list) =
        use m = new MemoryStream()
        use w = new BinaryWriter(m, Encoding.UTF8)
        let op (c: char) = w.Write(byte c)

        let glob (modul: string) (name: string) =
            op 'c'
            w.Write(Encoding.ASCII.GetBytes $"{modul}\n{name}\n")

        let str (s: string) =
            let b = Encoding.UTF8.GetBytes s
            op 'X'
            w.Write(int32 b.Length)
            w.Write b

        let int (i: int) =
            op 'J'
            w.Write(int32 i)

        let ints (xs: int[]) =
            op '('

            for x in xs do
                int x

            op 't'

        let emptyDict () =
            glob "collections" "OrderedDict"
            op ')'
            op 'R'

        w.Write(0x80uy)
        w.Write(2uy)
        emptyDict ()

        if not entries.IsEmpty then
            op '('

            entries
            |> List.iteri (fun i (name, t) ->
                str name
                glob "torch._utils" "_rebuild_tensor_v2"
                op '('
                op '('
                str "storage"
                glob "torch" storageType
                str (string i)
                str "cpu"
                int t.Data.Length
                op 't'
                op 'Q'
                int 0
                ints t.Shape
                // Row-major strides.
                let strides = Array.zeroCreate t.Shape.Length
                let mutable s = 1

                for j in t.Shape.Length - 1 .. -1 .. 0 do
                    strides[j] <- s
                    s <- s * t.Shape[j]

                ints strides
                w.Write(0x89uy) // NEWFALSE: requires_grad
                emptyDict ()
                op 't'
                op 'R')

            op 'u'

        op '.'
        w.Flush()
        m.ToArray()

    /// `TorchFile.writeStateDictAs` (its documentation says what is written and refused).
    let writeStateDictAs (single: bool) (path: string) (entries: (string * NamedTensor) list) =
        for name, t in entries do
            if isNull (box t.Shape) || isNull t.Data then
                DataFile.fail path $"tensor '{name}': no shape or data"

            let count = t.Shape |> Array.fold (fun a d -> a * int64 d) 1L

            if t.Shape |> Array.exists (fun d -> d < 0) || count <> int64 t.Data.Length then
                DataFile.fail path $"tensor '{name}': {t.Data.Length} values for shape {Shape.show t.Shape}"

            if single then
                match
                    t.Data
                    |> Array.tryFindIndex (fun v -> Double.IsFinite v && not (Single.IsFinite(float32 v)))
                with
                | Some i -> DataFile.fail path $"tensor '{name}': {t.Data[i]} at flat index {i} overflows float32"
                | None -> ()

        match entries |> List.countBy fst |> List.tryFind (fun (_, n) -> n > 1) with
        | Some(name, n) -> DataFile.fail path $"the tensor name '{name}' appears {n} times"
        | None -> ()

        let data = pickle (if single then "FloatStorage" else "DoubleStorage") entries

        DataFile.writeAtomic path (fun stream ->
            use zip = new ZipArchive(stream, ZipArchiveMode.Create, true)

            let add (name: string) (bytes: byte[]) =
                let e = zip.CreateEntry("archive/" + name, CompressionLevel.NoCompression)
                use s = e.Open()
                s.Write(bytes, 0, bytes.Length)

            add "data.pkl" data
            add "byteorder" (Encoding.ASCII.GetBytes "little")

            entries
            |> List.iteri (fun i (_, t) ->
                let bytes =
                    if single then
                        let b = Array.zeroCreate (4 * t.Data.Length)

                        for k in 0 .. t.Data.Length - 1 do
                            BitConverter.TryWriteBytes(Span<byte>(b, 4 * k, 4), float32 t.Data[k]) |> ignore

                        b
                    else
                        let b = Array.zeroCreate (8 * t.Data.Length)
                        Buffer.BlockCopy(t.Data, 0, b, 0, b.Length)
                        b

                add $"data/{i}" bytes)

            add "version" (Encoding.ASCII.GetBytes "3\n"))
