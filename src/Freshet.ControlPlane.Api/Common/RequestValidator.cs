using System.Text.RegularExpressions;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>Collects per-field errors so a caller learns every problem with a request at once.</summary>
internal sealed partial class RequestValidator
{
    public const int MaxNameLength = 200;

    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool IsValid => _errors.Count == 0;

    public RequestValidator Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            list = [];
            _errors[field] = list;
        }

        list.Add(message);
        return this;
    }

    public bool Required(string field, object? value)
    {
        if (value is null || value is string s && string.IsNullOrWhiteSpace(s))
        {
            Add(field, "This field is required.");
            return false;
        }

        return true;
    }

    /// <summary>A human-readable name: required, trimmed length within bounds, no control characters.</summary>
    public void Name(string field, string? value, int maxLength = MaxNameLength, bool required = true)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, "This field is required.");
            }

            return;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            Add(field, "Must not be empty.");
        }
        else if (value.Length > maxLength)
        {
            Add(field, $"Must be at most {maxLength} characters (got {value.Length}).");
        }
        else if (value.Any(char.IsControl))
        {
            Add(field, "Must not contain control characters.");
        }
    }

    public void Slug(string field, string? value)
    {
        if (Required(field, value) && !SlugPattern().IsMatch(value!))
        {
            Add(field, "Use 3 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen.");
        }
    }

    public void Email(string field, string? value)
    {
        if (Required(field, value) && (value!.Length > 254 || !EmailPattern().IsMatch(value)))
        {
            Add(field, "Must be an e-mail address.");
        }
    }

    public void Range(string field, int? value, int min, int max)
    {
        if (value is { } v && (v < min || v > max))
        {
            Add(field, $"Must be between {min} and {max}.");
        }
    }

    public IDictionary<string, string[]> Errors => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);

    [GeneratedRegex("^[a-z][a-z0-9-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();

    [GeneratedRegex(@"^[^@\s\p{C}]+@[^@\s\p{C}]+\.[^@\s\p{C}]+$", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();
}
