using System.Text;

namespace Landmark.Storage;

/// <summary>Rules every object key follows, whatever the store: 1 to <see cref="MaxLength"/> characters,
/// '/'-separated, relative (no leading '/'), no empty, '.' or '..' segment, no backslash, no control character.</summary>
public static class ObjectKeys
{
    /// <summary>Longest key (S3 allows 1,024 bytes of UTF-8).</summary>
    public const int MaxLength = 1024;

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="key"/> breaks a rule.</summary>
    public static void Validate(string key)
    {
        if (string.IsNullOrEmpty(key) || Encoding.UTF8.GetByteCount(key) > MaxLength)
        {
            throw new ArgumentException($"An object key must have 1 to {MaxLength} bytes of UTF-8.", nameof(key));
        }
        if (key.StartsWith('/') || key.Contains('\\') || key.Any(char.IsControl))
        {
            throw new ArgumentException($"Invalid object key '{key}': relative, '/'-separated, no backslash or control characters.", nameof(key));
        }
        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                throw new ArgumentException($"Invalid object key '{key}': empty, '.' or '..' segment.", nameof(key));
            }
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="prefix"/> cannot start any valid key
    /// (absolute, backslash, control character or a '..' segment). The empty prefix is valid.</summary>
    public static void ValidatePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.StartsWith('/') || prefix.Contains('\\') || prefix.Any(char.IsControl) ||
            prefix.Split('/').SkipLast(1).Any(s => s.Length == 0 || s is "." or ".."))
        {
            throw new ArgumentException($"Invalid key prefix '{prefix}'.", nameof(prefix));
        }
    }

    /// <summary>Orders keys the way S3 lists them: by the bytes of their UTF-8 encoding.</summary>
    public static IComparer<string> Order { get; } = new Utf8Comparer();

    private sealed class Utf8Comparer : IComparer<string>
    {
        public int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }
            if (x is null || y is null)
            {
                return x is null ? -1 : 1;
            }
            // UTF-16 code-unit order equals UTF-8 byte order except between surrogates (U+10000 and up) and U+E000..U+FFFF.
            var length = Math.Min(x.Length, y.Length);
            for (var i = 0; i < length; i++)
            {
                var a = x[i];
                var b = y[i];
                if (a == b)
                {
                    continue;
                }
                if (char.IsSurrogate(a) != char.IsSurrogate(b) && (a >= '\uE000' || b >= '\uE000'))
                {
                    return char.IsSurrogate(a) ? 1 : -1;
                }
                return a.CompareTo(b);
            }
            return x.Length.CompareTo(y.Length);
        }
    }
}

/// <summary>Rules for logical bucket names (see <see cref="Buckets"/>): 1 to <see cref="MaxLength"/> lower-case
/// letters, digits and '-', starting with a letter or digit.</summary>
public static class BucketNames
{
    /// <summary>Longest logical name; the S3 store adds its prefix and S3 allows 63 characters in all.</summary>
    public const int MaxLength = 40;

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="bucket"/> breaks a rule.</summary>
    public static void Validate(string bucket)
    {
        if (string.IsNullOrEmpty(bucket) || bucket.Length > MaxLength || bucket[0] == '-' ||
            !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new ArgumentException(
                $"Invalid bucket name '{bucket}': 1 to {MaxLength} lower-case letters, digits and '-', not starting with '-'.", nameof(bucket));
        }
    }
}

/// <summary>Rules for user metadata, the same for every store so that data moves between them: keys are stored
/// lower-case and use letters, digits and '-' (S3 servers rewrite '_' in header names: radosgw returns it as '-'); values are printable ASCII (they travel as HTTP headers);
/// at most <see cref="MaxTotalBytes"/> in all.</summary>
public static class ObjectMetadata
{
    /// <summary>S3's limit on the user metadata of one object.</summary>
    public const int MaxTotalBytes = 2048;

    /// <summary>The metadata with lower-cased keys; throws <see cref="ArgumentException"/> when a rule is broken.</summary>
    public static Dictionary<string, string> Normalize(IReadOnlyDictionary<string, string>? metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is null)
        {
            return result;
        }
        var total = 0;
        foreach (var (rawKey, value) in metadata)
        {
            var key = rawKey?.ToLowerInvariant() ?? "";
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                throw new ArgumentException($"Invalid metadata key '{rawKey}': letters, digits and '-'.", nameof(metadata));
            }
            if (value is null || value.Any(c => c < ' ' || c > '~'))
            {
                throw new ArgumentException($"Invalid value of metadata '{key}': printable ASCII only.", nameof(metadata));
            }
            if (!result.TryAdd(key, value))
            {
                throw new ArgumentException($"Metadata key '{key}' appears twice (keys are case-insensitive).", nameof(metadata));
            }
            total += key.Length + value.Length;
        }
        if (total > MaxTotalBytes)
        {
            throw new ArgumentException($"User metadata is {total} bytes; at most {MaxTotalBytes} are allowed.", nameof(metadata));
        }
        return result;
    }
}
