using System.Text.RegularExpressions;

namespace Freshet.Console.Components.Admin;

/// <summary>
/// The control plane's rules for what the admin forms send (RequestValidator: names, e-mail addresses), checked before
/// sending so the person sees the problem at the field. The API checks again and its answer is shown as it comes.
/// </summary>
internal static partial class AdminValidation
{
    public const int MaxNameLength = 200;

    public static string? Email(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return "Enter the person's e-mail address.";
        }

        return value.Trim().Length > 254 || !EmailPattern().IsMatch(value.Trim()) ? "This is not an e-mail address." : null;
    }

    /// <summary>A name: required unless <paramref name="required"/> is false; at most 200 characters, no control characters.</summary>
    public static string? Name(string? value, bool required = true)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return required ? "Enter a name." : null;
        }

        if (value.Trim().Length > MaxNameLength)
        {
            return $"At most {MaxNameLength} characters (this is {value.Trim().Length}).";
        }

        return value.Any(char.IsControl) ? "Must not contain control characters." : null;
    }

    public static string? Role(string? value, IReadOnlyList<string> allowed) =>
        string.IsNullOrEmpty(value) ? "Choose a role." : allowed.Contains(value) ? null : $"You cannot give the role {value}.";

    [GeneratedRegex(@"^[^@\s\p{C}]+@[^@\s\p{C}]+\.[^@\s\p{C}]+$", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();
}
