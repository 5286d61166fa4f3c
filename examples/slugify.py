import re


def slugify(title, max_len=50):
    """Turn a title into a URL slug: 'Hello, World!' -> 'hello-world'."""
    slug = title.lower()
    slug = re.sub(r"[^a-z0-9]+", "-", slug)
    slug = slug.strip("-")
    return slug[:max_len]
