"""Word list of the tiny checkpoints' word-level tokenizer (lower-cased; anything else maps to ``<unk>``).

It covers the prompt scaffolding, the 80 COCO object names (CHAIR / Object HalBench), common attributes,
relations and function words, so random tiny models generate varied, readable captions.
"""

from __future__ import annotations

_WORDS = """
. , : ; ? ! ' " ( ) - / \\ = + < > | _ 0 1 2 3 4 5 6 7 8 9
a an the this that these those there here it its is are was were be been being am do does did has have had
and or but not no yes of in on at to from with without by for about over under above below behind near
next beside between into onto out off up down left right front back top bottom middle center side inside
outside around through along across against toward towards while when where which who whom whose what why how
s t i you he she we they me him her us them my your his our their some any all each every both few many much
more most other another such only own same so than too very can will just should now also then well still
one two three four five six seven eight nine ten several single pair group couple lot lots
chat between curious human artificial intelligence assistant gives helpful detailed polite answers questions
user system describe description image picture photo photograph scene view shown shows showing show see seen
visible appears appear looks look looking provide detail details please answer question short brief
person people man men woman women boy girl child children baby player players crowd family friend
bicycle car motorcycle airplane bus train truck boat traffic light fire hydrant stop sign parking meter bench
bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie suitcase frisbee skis
snowboard sports ball kite baseball bat glove skateboard surfboard tennis racket bottle wine glass cup fork
knife spoon bowl banana apple sandwich orange broccoli carrot hot pizza donut cake chair couch potted plant bed
dining table toilet tv laptop mouse remote keyboard cell phone microwave oven toaster sink refrigerator book
clock vase scissors teddy hair drier toothbrush
red orange yellow green blue purple pink brown black white gray grey silver gold dark bright colorful
large big small little tiny huge tall short long wide narrow round square old young new wooden metal plastic
open closed empty full clean dirty wet dry sunny cloudy snowy
sitting standing lying walking running riding holding eating drinking playing flying parked wearing carrying
watching waiting smiling talking reading cooking working sleeping swimming jumping throwing catching hanging
street road sidewalk building house room kitchen bathroom bedroom office field grass tree trees sky water
beach ocean sea river lake mountain snow sand park city window door wall floor ceiling shelf counter fence
sun cloud clouds rock rocks flower flowers leaves food plate shirt hat jacket dress shoes bag sign signs
background foreground distance day night outdoor indoor area surface edge corner line lines pattern
object objects animal animals vehicle vehicles thing things item items part parts kind type color colors
shape shapes number count
""".split()

# Deduplicated, order kept so that token ids are stable across builds.
TINY_WORDS: list[str] = list(dict.fromkeys(_WORDS))
