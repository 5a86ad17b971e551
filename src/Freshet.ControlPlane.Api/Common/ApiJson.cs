using System.Text.Json;
using System.Text.Json.Serialization;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>
/// The API speaks snake_case everywhere (properties, enum values, query parameters such as <c>page_size</c>), and
/// refuses numbers for enums so that a typo never silently becomes "viewer".
/// </summary>
internal static class ApiJson
{
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.MaxDepth = 32;
    }

    public static string EnumValue<T>(T value)
        where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    /// <summary>Parses an enum from a query string the way the JSON body spells it (snake_case).</summary>
    public static bool TryParseEnum<T>(string value, out T result)
        where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (string.Equals(EnumValue(candidate), value, StringComparison.Ordinal))
            {
                result = candidate;
                return true;
            }
        }

        result = default;
        return false;
    }

    public static IEnumerable<string> EnumValues<T>()
        where T : struct, Enum => Enum.GetValues<T>().Select(EnumValue);
}
