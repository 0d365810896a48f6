namespace TiDHy.Functional

open System.IO

/// PyTorch's `torch.save` file format (a zip holding `<prefix>/data.pkl`, a pickle, and the raw
/// little-endian storages `<prefix>/data/<key>`): state_dicts read (`TorchFileRead`) and written
/// (`TorchFileWrite`) without Python.
[<RequireQualifiedAccess>]
module TorchFile =

    /// Reads the state_dict of a `torch.save` file: a state_dict (`torch.save(model.state_dict(), path)`)
    /// or a training checkpoint holding one in `state_dict` or `model_state_dict` (the rest is
    /// ignored). float32 and float64 tensors (converted to float64) of any strides; raises a
    /// `DataFormatException` naming the file (and the tensor) for a file that is not such a zip, a
    /// truncated one, another dtype, unexpected Python objects, a malformed pickle, a key given twice
    /// in a dictionary, storages too short, offsets and strides that reach beyond the storage
    /// (checked arithmetic: nothing wraps), or sizes beyond what memory allows: a storage entry
    /// larger than its storage (a zip bomb), or storages and tensors beyond
    /// `Memory.dataBudgetBytes` together. No entry is read beyond the size it must have.
    let readStateDict (path: string) : Map<string, NamedTensor> = TorchFileRead.readStateDict path

    /// Writes `entries` (names to tensors, in this order) as a `torch.save` file that
    /// `torch.load(path, weights_only=True)` reads: the zip `archive/data.pkl`, `archive/data/<i>`,
    /// `archive/byteorder` (`little`) and `archive/version` (`3`), uncompressed; float64
    /// (`DoubleStorage`) unless `single` is set (`FloatStorage`: values rounded to float32, an
    /// error for a finite value beyond its range). Atomic; raises a `DataFormatException` naming
    /// the file and the tensor for a shape that does not match its data.
    let writeStateDictAs (single: bool) (path: string) (entries: (string * NamedTensor) list) =
        TorchFileWrite.writeStateDictAs single path entries

    /// `writeStateDictAs false`: float64 storages, values exactly as given.
    let writeStateDict (path: string) (entries: (string * NamedTensor) list) = writeStateDictAs false path entries

    /// Whether `path` starts with a zip signature (`PK`), as `torch.save` files do.
    let isZip (path: string) =
        try
            use f = File.OpenRead path
            let b = Array.zeroCreate 2
            f.Read(b, 0, 2) = 2 && b[0] = 0x50uy && b[1] = 0x4Buy
        with _ ->
            false

    /// Reads a `torch.save` state_dict and converts it for `cfg` (see `ParamLayout.toParams`);
    /// raises `StateDictException` naming the file when it does not fit.
    let load (cfg: Config) (path: string) : Params =
        let sd = readStateDict path

        try
            ParamLayout.toParams cfg sd
        with StateDictException msg ->
            raise (StateDictException $"{path}: {msg}")
