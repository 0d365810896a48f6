namespace TiDHy.Functional

/// An explicit, splittable random key, in the manner of JAX's PRNG keys: a key is a value, it is
/// never advanced in place, and independent streams come from `split`. The same key always gives
/// the same numbers, on every machine.
[<Struct; CustomEquality; NoComparison>]
type Key =
    private
    | Key of uint64

    override this.Equals(o) =
        match o with
        | :? Key as k ->
            let (Key a) = this
            let (Key b) = k
            a = b
        | _ -> false

    override this.GetHashCode() =
        let (Key a) = this
        a.GetHashCode()

    override this.ToString() =
        let (Key a) = this
        $"Key(0x{a:x16})"

/// Operations on random keys and the draws they determine (SplitMix64 mixing; Box–Muller normals).
[<RequireQualifiedAccess>]
module Random =

    let private golden = 0x9E3779B97F4A7C15UL

    let private mix (z0: uint64) =
        let z1 = (z0 ^^^ (z0 >>> 30)) * 0xBF58476D1CE4E5B9UL
        let z2 = (z1 ^^^ (z1 >>> 27)) * 0x94D049BB133111EBUL
        z2 ^^^ (z2 >>> 31)

    /// The key of an integer seed.
    let key (seed: int) = Key(mix (uint64 (int64 seed) + golden))

    /// `n` independent keys derived from `key` (none equal to it).
    let splitN (n: int) (Key k) =
        if n < 0 then
            invalidArg (nameof n) $"n: expected >= 0, got {n}."

        Array.init n (fun i -> Key(mix (mix (k ^^^ 0xA0761D6478BD642FUL) + uint64 (i + 1) * golden)))

    /// Two independent keys derived from `key`.
    let split (key: Key) =
        let ks = splitN 2 key
        ks[0], ks[1]

    /// The key for item `i` of a family derived from `key` (JAX's `fold_in`).
    let foldIn (i: int) (Key k) =
        Key(mix (k ^^^ mix (uint64 (int64 i) * golden + 0xE7037ED1A0B428DBUL)))

    let private bits (Key k) (j: int) = mix (k + uint64 (j + 1) * golden)

    /// `n` draws uniform on [0, 1), 53 random bits each.
    let uniform01 (key: Key) (n: int) =
        Array.init n (fun j -> float (bits key j >>> 11) * (1.0 / 9007199254740992.0))

    /// `n` draws uniform on [lo, hi).
    let uniform (key: Key) (lo: float) (hi: float) (n: int) =
        uniform01 key n |> Array.map (fun u -> lo + (hi - lo) * u)

    /// `n` standard normal draws.
    let normal (key: Key) (n: int) =
        let u = uniform01 key (2 * ((n + 1) / 2))

        Array.init n (fun j ->
            let pair = j / 2
            let u1 = 1.0 - u[2 * pair] // in (0, 1], so the log is finite
            let u2 = u[2 * pair + 1]
            let radius = sqrt (-2.0 * log u1)
            let angle = 2.0 * System.Math.PI * u2

            if j % 2 = 0 then radius * cos angle else radius * sin angle)

    /// A uniformly random permutation of `0 … n − 1` from `key` (Fisher–Yates on `uniform01 key n`,
    /// from the last position down).
    let permutation (key: Key) (n: int) =
        let p = Array.init n id
        let u = uniform01 key n

        for i in n - 1 .. -1 .. 1 do
            let j = min i (int (u[i] * float (i + 1)))
            let tmp = p[i]
            p[i] <- p[j]
            p[j] <- tmp

        p
