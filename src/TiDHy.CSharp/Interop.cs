using Microsoft.FSharp.Core;
using F = TiDHy.Functional;

namespace TiDHy.CSharp;

/// <summary>
/// The boundary with the F# core: F# options and functions from C# values, and the core's
/// exceptions as the .NET exceptions a C# caller expects, naming the C# parameters.
/// </summary>
internal static class Interop
{
    /// <summary><c>Some value</c>, or <c>None</c> for null.</summary>
    public static FSharpOption<T> Option<T>(T? value)
        where T : class => value is null ? FSharpOption<T>.None : FSharpOption<T>.Some(value);

    /// <summary>The value of an option, or null for <c>None</c>.</summary>
    public static T? ValueOrNull<T>(FSharpOption<T>? option)
        where T : class => option is null ? null : option.Value;

    /// <summary>The value of an option, or null for <c>None</c>.</summary>
    public static T? Nullable<T>(FSharpOption<T>? option)
        where T : struct => option is null ? null : option.Value;

    /// <summary>An F# function <c>'T -> unit</c> that runs <paramref name="action"/>.</summary>
    public static FSharpFunc<T, Unit> Function<T>(Action<T> action) => FuncConvert.FromAction(action);

    /// <summary>Throws <see cref="FileNotFoundException"/> when <paramref name="path"/> names no file.</summary>
    public static void RequireFile(string path, string paramName)
    {
        ArgumentNullException.ThrowIfNull(path, paramName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{paramName}: no file at '{path}'.", path);
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/>, translating the core's exceptions: an invalid configuration
    /// becomes an <see cref="ArgumentException"/> for <paramref name="configParam"/> that names the
    /// C# properties; a bad checkpoint or state_dict file an <see cref="InvalidDataException"/>; a
    /// file or folder without permission (<see cref="UnauthorizedAccessException"/>) an
    /// <see cref="IOException"/>; diverging inference (<c>InferenceDivergedException</c>) an
    /// <see cref="InvalidOperationException"/>; an
    /// <see cref="ArgumentException"/> for a core argument named in <paramref name="renames"/> one
    /// for the C# parameter it maps to.
    /// </summary>
    public static T Call<T>(Func<T> body, string? configParam, params (string Core, string CSharp)[] renames)
    {
        try
        {
            return body();
        }
        catch (F.InvalidConfigException e)
        {
            var problems = e.errors.Select(err =>
            {
                var property = TiDHyOptions.PropertyOf(err.Field);
                var name = property == err.Field ? err.Field : $"{property} ({err.Field})";
                return $"{name} = {err.Value}: {err.Reason}";
            });
            throw new ArgumentException("Invalid TiDHy options: " + string.Join("; ", problems), configParam, e);
        }
        catch (F.CheckpointException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        catch (F.StateDictException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        catch (F.DataFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        catch (TiDHy.Kernels.InferenceDivergedException e)
        {
            // Inference overflowed: an InvalidOperationException, like a diverging fit.
            throw new InvalidOperationException(e.Message, e);
        }
        catch (UnauthorizedAccessException e)
        {
            // A file or folder without permission: an IOException, like every other file failure.
            throw new IOException(e.Message, e);
        }
        catch (ArgumentException e) when (e is not ArgumentNullException && renames.Any(r => r.Core == e.ParamName))
        {
            var (core, csharp) = renames.First(r => r.Core == e.ParamName);
            var message = e.Message.Replace($" (Parameter '{core}')", "");
            if (message.StartsWith(core + ":", StringComparison.Ordinal) || message.StartsWith(core + ".", StringComparison.Ordinal))
            {
                message = csharp + message[core.Length..];
            }

            throw new ArgumentException(message, csharp, e);
        }
    }

    /// <summary><see cref="Call{T}"/> for an action.</summary>
    public static void Call(Action body, string? configParam, params (string Core, string CSharp)[] renames) =>
        Call<object?>(
            () =>
            {
                body();
                return null;
            },
            configParam,
            renames
        );
}
