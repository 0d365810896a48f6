namespace TiDHy.Functional

/// Loading and saving series `[time; features]` by file extension: `.csv`, `.npy`, `.npz` and `.h5`.
[<RequireQualifiedAccess>]
module Data =

    /// The `.npz` entry names `load` looks for, in order, when an archive holds several arrays.
    val npzEntryNames: string list

    /// Splits `file.h5:/path/to/dataset` (also `.hdf5`, any case) into the file and the dataset;
    /// other paths, and HDF5 files without a dataset, give `None` as the dataset.
    val splitDatasetPath: path: string -> string * string option

    /// The series `[time; features]` in entry `entry` of the `.npz` file `path` (rank 2, or rank 1 as
    /// one feature). Raises a `DataFormatException` naming the file and listing its entries when there
    /// is no such entry.
    val loadNpzEntry: path: string -> entry: string -> float[,]

    /// Loads the series `[time; features]` of `path`, by extension (case-insensitive):
    /// `.csv` — numbers, ',', ';' or tab separated (detected), header optional (see `Csv.read`);
    /// `.npy` — a rank-2 array, or rank 1 read as one feature `[n; 1]`, float64 or float32;
    /// `.npz` — its only array, else the first of the entries named in `npzEntryNames`
    /// (`data`, `X`, `x`, `inputs_train`), else an error listing the entries (use `loadNpzEntry`);
    /// `.h5` / `.hdf5` — `file.h5:/path/to/dataset`, or without a dataset the file's only dataset
    /// or only rank-2 one (see `Hdf5.readOnly`), float64 or float32.
    /// Raises an ArgumentException for another extension, FileNotFoundException for a missing file
    /// and `DataFormatException` (naming the file, entry and position) for malformed contents,
    /// NaN and infinity included in every format (row and column from 1, as in CSV lines).
    val load: path: string -> float[,]

    /// `load` for a file of integer labels (discrete states, one column per system): the same
    /// formats, except that a headerless CSV file whose rows all hold two integers is read as two
    /// columns (`Csv.readLabels`), not refused as one column of decimal commas.
    val loadLabels: path: string -> float[,]

    /// Raises a `DataFormatException` naming `source` (the file) and the first row and column (from
    /// 1) of `series` `[time; features]` outside the data domain of `cfg.Loss` (BCE: [0, 1];
    /// Poisson: non-negative; MSE: any). Call it where a series meets a configuration, before
    /// training or evaluating; inference also refuses such data (`Inference.checkDomain`), without
    /// the file.
    val checkDomain: cfg: Config -> source: string -> series: float[,] -> unit

    /// Saves the series `series` `[time; features]` to `path`, by extension, atomically: `.csv`
    /// without a header, `.npy` as float64, `.npz` as float64 in the entry `data`, `.h5` / `.hdf5`
    /// as the float64 dataset `/data`.
    val save: path: string -> series: float[,] -> unit

    /// Saves an SLDS data set to the `.npz` file `path` with upstream's names: `inputs_train`,
    /// `inputs_val`, `inputs_test` (observations `[time; channels]`), `states_z`, `states_z_val`,
    /// `states_z_test` (discrete states `[time; Systems]`, as floats), `states_x`, `states_x_val`,
    /// `states_x_test` (latents `[time; Systems·2]`), and `projection` `[channels; n]` when the
    /// data were projected; float64, atomically. `load` on this file gives `inputs_train`.
    val saveSlds: path: string -> data: SldsData -> unit
