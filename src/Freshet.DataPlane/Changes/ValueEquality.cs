using System.Collections;

namespace Freshet.DataPlane.Changes;

/// <summary>Equality of data-plane values, arrays and byte strings compared element by element.</summary>
public static class ValueEquality
{
    public static bool Equal(object? a, object? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (a is byte[] x && b is byte[] y)
        {
            return x.AsSpan().SequenceEqual(y);
        }

        if (a is IList left && b is IList right && a is not string)
        {
            if (left.Count != right.Count)
            {
                return false;
            }

            for (var i = 0; i < left.Count; i++)
            {
                if (!Equal(left[i], right[i]))
                {
                    return false;
                }
            }

            return true;
        }

        return a.Equals(b);
    }
}
