/// The XML documentation that editors show on hover repeats, for every `Config` field and every
/// case of the option unions, the `ConfigOption` / `Doc` attribute's text: one source of truth, with
/// the `///` comments in Core/ConfigTypes.fs kept in step with the attributes by this test.
module TiDHy.Functional.Tests.ConfigDocsTests

open System
open System.IO
open System.Reflection
open System.Text.RegularExpressions
open System.Xml.Linq
open Microsoft.FSharp.Reflection
open TiDHy.Functional
open Xunit

/// The summaries of TiDHy.Functional.xml (built with the library, GenerateDocumentationFile), by
/// member name, whitespace collapsed.
let private summaries =
    lazy
        (let path = Path.Combine(AppContext.BaseDirectory, "TiDHy.Functional.xml")
         Assert.True(File.Exists path, $"{path}: missing; the library builds it (GenerateDocumentationFile)")

         XDocument.Load(path).Descendants(XName.Get "member")
         |> Seq.map (fun m ->
             let summary =
                 match m.Element(XName.Get "summary") with
                 | null -> ""
                 | s -> s.Value

             m.Attribute(XName.Get "name").Value, summary)
         |> Seq.map (fun (name, s) -> name, Regex.Replace(s, @"\s+", " ").Trim())
         |> Map.ofSeq)

let private collapse (s: string) = Regex.Replace(s, @"\s+", " ").Trim()

/// The summary of the first of `names` the XML holds; fails naming `what` when none.
let private summaryOf (what: string) (names: string list) =
    match names |> List.tryPick (fun n -> Map.tryFind n summaries.Value) with
    | Some s -> s
    | None ->
        let looked = String.Join(", ", names)
        failwith $"{what}: no XML documentation (looked for {looked}); add a /// comment"

[<Fact>]
let ``Every Config field's XML summary holds its ConfigOption Doc text and JSON key`` () =
    Assert.NotEmpty ConfigOptions.all

    for o in ConfigOptions.all do
        let s = summaryOf o.Property [ $"P:TiDHy.Functional.Config.{o.Property}" ]

        Assert.True(
            s.Contains(collapse o.Doc, StringComparison.Ordinal),
            $"Config.{o.Property}: /// says \"{s}\", the attribute \"{o.Doc}\""
        )

        Assert.Contains($"JSON key `{o.Key}`", s)

/// The option unions: the types of `Config`'s fields that carry a `Doc` attribute.
let private unions =
    FSharpType.GetRecordFields typeof<Config>
    |> Array.map _.PropertyType
    |> Array.filter (fun t -> FSharpType.IsUnion t && t.IsDefined(typeof<DocAttribute>))
    |> Array.distinct

[<Fact>]
let ``Every option union and each of its cases has an XML summary holding its Doc text`` () =
    // LossKind, BatchScaling, Convergence, Saturation, Backend, TrainingPrecision at least.
    Assert.True(unions.Length >= 6, String.Join(", ", unions |> Array.map _.Name))

    for t in unions do
        let doc = t.GetCustomAttribute<DocAttribute>().Text
        let s = summaryOf t.Name [ $"T:{t.FullName}" ]

        Assert.True(
            s.Contains(collapse doc, StringComparison.Ordinal),
            $"{t.Name}: /// says \"{s}\", the attribute \"{doc}\""
        )

        for c in FSharpType.GetUnionCases t do
            let attr =
                c.GetCustomAttributes(typeof<DocAttribute>) |> Array.exactlyOne :?> DocAttribute

            let s =
                summaryOf $"{t.Name}.{c.Name}" [ $"T:{t.FullName}.{c.Name}"; $"P:{t.FullName}.{c.Name}" ]

            Assert.True(
                s.Contains(collapse attr.Text, StringComparison.Ordinal),
                $"{t.Name}.{c.Name}: /// says \"{s}\", the attribute \"{attr.Text}\""
            )
