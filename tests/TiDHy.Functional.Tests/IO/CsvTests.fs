/// Tests of `Csv`: exact round trips, header detection and options, and every malformed-input error
/// with its line and column.
module TiDHy.Functional.Tests.CsvTests

open System
open System.IO
open FsCheck.FSharp
open TiDHy.Functional
open Xunit

let private parse text =
    Csv.parse Csv.defaultOptions "t.csv" text

/// Parses `text` with `options` and returns the error message, which must name the file.
let private errorWith options text =
    let e =
        Assert.Throws<DataFormatException>(fun () -> Csv.parse options "t.csv" text |> ignore)

    Assert.StartsWith("t.csv: ", e.Message)
    e.Message

let private error text = errorWith Csv.defaultOptions text

[<Fact>]
let ``A header of names is detected and kept apart from the numbers`` () =
    let t = parse "a,b,c\n1,2,3\n4.5,-6e-3,7\n"
    Assert.Equal<string[]>([| "a"; "b"; "c" |], t.Header.Value)
    Assert.Equal<float[,]>(array2D [ [ 1.0; 2.0; 3.0 ]; [ 4.5; -0.006; 7.0 ] ], t.Values)
    let n = parse "1.5,2\r\n3,4"
    Assert.True(n.Header.IsNone)
    Assert.Equal<float[,]>(array2D [ [ 1.5; 2.0 ]; [ 3.0; 4.0 ] ], n.Values)

[<Fact>]
let ``Quotes, spaces, blank lines and numpy comment lines are handled`` () =
    let t = parse "# x,y\n\"x, first\" , \"y \"\"2\"\"\"\n\n 1 , 2 \n\"3\",4\n\n"
    Assert.Equal<string[]>([| "x, first"; "y \"2\"" |], t.Header.Value)
    Assert.Equal<float[,]>(array2D [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ] ], t.Values)

[<Fact>]
let ``The header option overrides detection`` () =
    let present =
        Csv.parse
            { Csv.defaultOptions with
                Header = CsvHeader.Present
            }
            "t.csv"
            "0,1\n2,3"

    Assert.Equal<string[]>([| "0"; "1" |], present.Header.Value)
    Assert.Equal(1, Array2D.length1 present.Values)

    let absent =
        errorWith
            { Csv.defaultOptions with
                Header = CsvHeader.Absent
            }
            "a,b\n2,3"

    Assert.Contains("line 1: column 1: 'a' is not a number", absent)

[<Fact>]
let ``Semicolon and tab separators are supported and others rejected`` () =
    let semi =
        Csv.parse
            { Csv.defaultOptions with
                Separator = Some ';'
            }
            "t.csv"
            "a;b\n1.5;2"

    Assert.Equal(1.5, semi.Values[0, 0])

    let tab =
        Csv.parse
            { Csv.defaultOptions with
                Separator = Some '\t'
            }
            "t.csv"
            "1\t2\n3\t4"

    Assert.Equal(4.0, tab.Values[1, 1])

    Assert.Throws<ArgumentException>(fun () ->
        Csv.parse
            { Csv.defaultOptions with
                Separator = Some '|'
            }
            "t.csv"
            "1"
        |> ignore)
    |> ignore

[<Fact>]
let ``The separator is detected per file: comma, semicolon or tab`` () =
    for text in
        [
            "a;b\n1.5;-2\n3;4e1\n"
            "a\tb\n1.5\t-2\n3\t4e1"
            "a,b\n1.5,-2\n3,4e1"
            "\"a;x\",b\n1.5,-2\n3,4e1"
        ] do
        let t = parse text
        Assert.Equal<float[,]>(array2D [ [ 1.5; -2.0 ]; [ 3.0; 40.0 ] ], t.Values)

    let one = parse "# comment; with\tseparators\nx\n1.5\n2\n"
    Assert.Equal<float[,]>(array2D [ [ 1.5 ]; [ 2.0 ] ], one.Values)
    Assert.Equal<float[,]>(array2D [ [ 1.0; 2.0 ] ], (parse "1 ; 2").Values)

[<Fact>]
let ``Decimal commas are refused with a hint`` () =
    // In a ';' or tab file the number itself is not one.
    for text, line, col in [ "a;b\n1,5;2\n", 2, 1; "1\t2\n3\t-0,25e3\n", 2, 2; "x;y\n1;2\n3;4,0\n", 3, 2 ] do
        let msg = error text
        Assert.Contains($"line {line}: column {col}", msg)
        Assert.Contains("decimal comma", msg)

    // A one-column ',' file with a header: the split rows disagree with the header.
    let ragged = error "value\n1,5\n2,25\n"
    Assert.Contains("line 2: 2 cells, expected 1", ragged)
    Assert.Contains("decimal comma", ragged)
    // Rows without a fraction and rows with one disagree.
    Assert.Contains("decimal comma", error "1,5\n2\n")
    // A fraction with a leading zero cannot be a column of its own.
    let split = error "1,05\n2,5\n"
    Assert.Contains("line 1: columns 1-2: '1,05'", split)
    Assert.Contains("decimal comma", error "x,y,z\n1,2,3\n-4,007,1\n")
    // Genuine integer columns stay numbers when a header or the separator says so.
    Assert.Equal<float[,]>(array2D [ [ 1.0; 5.0 ]; [ 0.0; 25.0 ] ], (parse "a,b\n1,5\n0,25").Values)

    let explicitComma =
        Csv.parse
            { Csv.defaultOptions with
                Separator = Some ','
            }
            "t.csv"
            "1,5\n0,25"

    Assert.Equal<float[,]>(array2D [ [ 1.0; 5.0 ]; [ 0.0; 25.0 ] ], explicitComma.Values)
    // Two integer columns that cannot be decimal commas (a signed or zero second cell) stay numbers.
    Assert.Equal<float[,]>(array2D [ [ 1.0; -5.0 ]; [ 2.0; 0.0 ] ], (parse "1,-5\n2,0").Values)

[<Fact>]
let ``One column of decimal commas without a leading-zero fraction is refused with the hint`` () =
    // 1.25, 2.5, 10.75 written with decimal commas: every row two integers, none a leading-zero fraction.
    for text in [ "1,25\n2,5\n10,75\n"; "-1,25\r\n3,5"; "# values\n7,5\n"; "1,25\n2,5\n" ] do
        let msg = error text
        Assert.Contains("decimal comma", msg)
        Assert.Contains("header line", msg)

    Assert.Contains("line 2: every row holds two integers such as '7,5'", error "# values\n7,5\n")

[<Fact>]
let ``Ragged rows are an error naming the line and the counts`` () =
    let msg = error "a,b,c\n1,2,3\n4,5\n"
    Assert.Contains("line 3", msg)
    Assert.Contains("2 cells, expected 3", msg)

[<Fact>]
let ``Empty cells and text are errors naming line and column`` () =
    let empty = error "1,2,3\n4,,6\n"
    Assert.Contains("line 2: column 2: empty cell", empty)
    let text = error "1,2\n3,x4\n"
    Assert.Contains("line 2: column 2: 'x4' is not a number", text)
    let comma = error "1,2\n3,\"4,5\"\n"
    Assert.Contains("'4,5'", comma)
    Assert.Contains("not closed", error "1,\"2\n")

[<Fact>]
let ``NaN and infinity are rejected by default and read when allowed`` () =
    for bad in [ "NaN"; "nan"; "inf"; "-Infinity"; "1e999" ] do
        let msg = error $"1,2\n3,{bad}\n"
        Assert.Contains("line 2: column 2", msg)
        Assert.Contains("not finite", msg)

    let allowed =
        Csv.parse
            { Csv.defaultOptions with
                AllowNonFinite = true
            }
            "t.csv"
            "nan,-inf,Infinity"

    Assert.True(Double.IsNaN allowed.Values[0, 0])
    Assert.Equal(-infinity, allowed.Values[0, 1])
    Assert.Equal(infinity, allowed.Values[0, 2])

[<Fact>]
let ``A first line mixing numbers and text asks for an explicit header option`` () =
    let msg = error "time,1,2\n0,1,2\n"
    Assert.Contains("line 1: column 1", msg)
    Assert.Contains("CsvOptions.Header", msg)

[<Fact>]
let ``An empty file is an error and a header alone gives no rows`` () =
    Assert.Contains("no data", error "")
    Assert.Contains("no data", error "\n \n# only a comment\n")
    let h = parse "a,b\n"
    Assert.Equal<int[]>([| 0; 2 |], Shape.ofMatrix h.Values)

let private genTable =
    gen {
        let! rows = Gen.choose (1, 8)
        let! cols = Gen.choose (1, 5)

        let! bits =
            Gen.arrayOfLength (rows * cols) (Gen.choose (Int32.MinValue, Int32.MaxValue))

        let! exps = Gen.arrayOfLength (rows * cols) (Gen.choose (-300, 300))
        let! header = Gen.elements [ false; true ]
        let! single = Gen.elements [ false; true ]
        let! sep = Gen.elements [ ','; ';'; '\t' ]

        let values =
            Array2D.init rows cols (fun r c ->
                let k = r * cols + c
                let e = if single then exps[k] % 30 else exps[k]
                let v = float bits[k] / 2147483647.0 * 10.0 ** float e
                if single then float (float32 v) else v)

        let names =
            if header then
                Some(Array.init cols (fun c -> if c % 2 = 0 then $"col {c}" else $"x,\"{c}\""))
            else
                None

        return values, names, sep
    }

[<Fact>]
let ``Tables round-trip exactly through CSV text, float64 and float32 values alike`` () =
    FsCheck.Check.One(
        FsCheck.Config.QuickThrowOnFailure,
        Prop.forAll (Arb.fromGen genTable) (fun (values, names, sep) ->
            let options =
                { Csv.defaultOptions with
                    Separator = Some sep
                }

            let back = Csv.parse options "mem" (Csv.format options names values)
            back.Values = values && back.Header = names)
    )

[<Fact>]
let ``Files round-trip and writing is atomic`` () =
    let dir = TestUtil.tempDir ()
    let p = Path.Combine(dir, "d.csv")
    let values = array2D [ [ 0.1; 1e-300 ]; [ -2.5; Math.PI ] ]
    Csv.write p (Some [| "a"; "b" |]) values
    Assert.Equal<float[,]>(values, Csv.read p)
    Assert.Equal("a,b\n0.1,1E-300\n-2.5,3.141592653589793\n", File.ReadAllText p)
    let before = File.ReadAllText p

    Assert.Throws<ArgumentException>(fun () -> Csv.write p None (array2D [ [ nan ] ]))
    |> ignore

    Assert.Equal(before, File.ReadAllText p)
    Assert.Equal<string[]>([| p |], Directory.GetFiles dir)

[<Fact>]
let ``Writing checks the header length, non-finite values and empty tables`` () =
    let e =
        Assert.Throws<ArgumentException>(fun () ->
            Csv.format Csv.defaultOptions (Some [| "a" |]) (array2D [ [ 1.0; 2.0 ] ])
            |> ignore)

    Assert.Contains("expected 2 names", e.Message)

    let n =
        Assert.Throws<ArgumentException>(fun () ->
            Csv.format Csv.defaultOptions None (array2D [ [ 1.0; infinity ] ]) |> ignore)

    Assert.Contains("row 0; column 1", n.Message)

    let allowed =
        Csv.format
            { Csv.defaultOptions with
                AllowNonFinite = true
            }
            None
            (array2D [ [ nan; -infinity ] ])

    let back =
        Csv.parse
            { Csv.defaultOptions with
                AllowNonFinite = true
            }
            "mem"
            allowed

    Assert.True(Double.IsNaN back.Values[0, 0])
    Assert.Equal(-infinity, back.Values[0, 1])

    Assert.Throws<ArgumentException>(fun () -> Csv.format Csv.defaultOptions None (Array2D.zeroCreate 0 2) |> ignore)
    |> ignore

    let headerOnly =
        Csv.format Csv.defaultOptions (Some [| "#a"; "" |]) (Array2D.zeroCreate 0 2)

    Assert.Equal<string[]>([| "#a"; "" |], (parse headerOnly).Header.Value)

[<Fact>]
let ``Lone carriage returns end lines, as in classic Mac OS files`` () =
    let t = parse "a,b\r1.5,2\r3,4\r"
    Assert.Equal<string[]>([| "a"; "b" |], t.Header.Value)
    Assert.Equal<float[,]>(array2D [ [ 1.5; 2.0 ]; [ 3.0; 4.0 ] ], t.Values)
    // Line numbers count them too, and mixed line ends each end one line.
    Assert.Contains("line 3: column 2: 'x' is not a number", error "a,b\r\n1.5,2\r3,x\n")
    Assert.Equal<float[,]>(array2D [ [ 1.5 ]; [ 2.0 ]; [ 3.0 ] ], (parse "1.5\r2\n3\r\n").Values)
