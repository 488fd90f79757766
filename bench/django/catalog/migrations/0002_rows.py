"""The rows every page lists: 60 authors, 600 books, 2,400 reviews, the same on every run."""

import datetime as dt
import random
from decimal import Decimal

from django.db import migrations

WORDS = [
    "night",
    "river",
    "glass",
    "winter",
    "engine",
    "garden",
    "silent",
    "paper",
    "north",
    "harbour",
    "copper",
    "letter",
    "orchard",
    "signal",
    "lantern",
    "island",
    "meadow",
    "theory",
]


def create_rows(apps, schema_editor):
    Author = apps.get_model("catalog", "Author")
    Book = apps.get_model("catalog", "Book")
    Review = apps.get_model("catalog", "Review")
    rnd = random.Random(18)
    authors = Author.objects.bulk_create(
        Author(name=f"Author {i:02d} {rnd.choice(WORDS).title()}",
               born=dt.date(1900, 1, 1) + dt.timedelta(days=rnd.randrange(36000)),
               bio=" ".join(rnd.choice(WORDS) for _ in range(40)))
        for i in range(60))
    books = Book.objects.bulk_create(
        Book(author=authors[i % 60],
             title=" ".join(rnd.choice(WORDS) for _ in range(3)).capitalize(),
             isbn=f"978{i:010d}",
             published=dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(27000)),
             price=Decimal(rnd.randrange(500, 6000)) / 100,
             in_print=rnd.random() < 0.8)
        for i in range(600))
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    Review.objects.bulk_create(
        Review(book=books[rnd.randrange(600)], reviewer=f"reader{rnd.randrange(300)}",
               rating=rnd.randint(1, 5), text=" ".join(rnd.choice(WORDS) for _ in range(25)),
               created=start + dt.timedelta(minutes=rnd.randrange(2_000_000)))
        for _ in range(2400))


def delete_rows(apps, schema_editor):
    apps.get_model("catalog", "Author").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create_rows, delete_rows)]
