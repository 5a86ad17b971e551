using System.Globalization;

namespace Freshet.Emulators.BigQuery.Storage;

/// <summary>
/// A <c>_CHANGE_SEQUENCE_NUMBER</c> as BigQuery's CDC documentation defines it (cloud.google.com/bigquery/docs/
/// change-data-capture, "Manage custom ordering"): a string of up to four sections of hexadecimal digits separated by
/// '/', each section at most 16 digits (an unsigned 64-bit number), case-insensitive. Two numbers compare section by
/// section from the left as unsigned integers; a missing section counts as smaller than a present one.
/// </summary>
internal sealed class ChangeSequence : IComparable<ChangeSequence>
{
    private readonly ulong[] _sections;

    private ChangeSequence(ulong[] sections, string text)
    {
        _sections = sections;
        Text = text;
    }

    public string Text { get; }

    public static bool TryParse(string text, out ChangeSequence? sequence, out string? problem)
    {
        sequence = null;
        var parts = text.Split('/');
        if (text.Length == 0 || parts.Length > 4)
        {
            problem = $"_CHANGE_SEQUENCE_NUMBER '{text}' must have one to four sections separated by '/'.";
            return false;
        }
        var sections = new ulong[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length is 0 or > 16 || !ulong.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out sections[i]))
            {
                problem = $"_CHANGE_SEQUENCE_NUMBER '{text}': section '{parts[i]}' is not 1 to 16 hexadecimal digits.";
                return false;
            }
        }
        sequence = new ChangeSequence(sections, text);
        problem = null;
        return true;
    }

    public int CompareTo(ChangeSequence? other)
    {
        if (other is null)
        {
            return 1;
        }
        for (var i = 0; i < Math.Min(_sections.Length, other._sections.Length); i++)
        {
            var compared = _sections[i].CompareTo(other._sections[i]);
            if (compared != 0)
            {
                return compared;
            }
        }
        return _sections.Length.CompareTo(other._sections.Length);
    }

    public override string ToString() => Text;
}
